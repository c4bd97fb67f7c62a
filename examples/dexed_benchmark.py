"""The DX7 benchmark: learn Dexed from renders, then match the factory voices no model saw.

    pip install ./adapters/dexed && sudo apt-get install hexter
    python examples/dexed_benchmark.py --out runs/dexed              # about 35 min on 2 cores

1. `spec fit` learns dexed-small's sampling distributions from hexter's 432 DX7/TX7/FB-01
   factory voices (/usr/share/hexter, Debian; not redistributed here).
2. `render` draws --count examples from the fitted spec; `train` fits an AST (ast-tiny) and the
   paper's MLP, each for --minutes.
3. Every factory voice is played (the whole voice, all 145 parameters, note 60) and matched by
   each model's network alone, and by the AST with `--refine` on every fourth voice. Scores:
   algorithm accuracy and mean error in steps over the spec's parameters (dexed-small: 38)
   against the voice's own values, and the SC and log-mel L1 (80 dB) of the re-rendered audio
   (benchmarks/real_sounds.py's definitions), each match at its least-squares gain.
4. Two reference rows: "nearest factory voice" is what a retrieval method (SynAPSE) returns:
   the other voice closest in log-mel (exact duplicates excluded), played whole; "the voice's N
   values" plays each voice's own values of the spec's N parameters on INIT VOICE, the best any
   patch of the spec can do (dexed-small leaves 107 of the 145 at INIT VOICE).

Writes OUT/results.json and OUT/results.md, and prints the table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from real_sounds import scores

from soundmatch import plugins
from soundmatch.evaluate import discrete_scores
from soundmatch.features import FeatureConfig, log_mel
from soundmatch.matcher import Matcher
from soundmatch.metrics import MatchDistance
from soundmatch.spec import load_spec

HEXTER = Path("/usr/share/hexter")


def run(*args) -> None:
    command = [sys.executable, "-m", "soundmatch", *[str(a) for a in args]]
    print("$ soundmatch " + " ".join(str(a) for a in args), flush=True)
    subprocess.run(command, check=True)


def at_best_gain(target: np.ndarray, audio: np.ndarray) -> np.ndarray:
    _, gain = MatchDistance(target, 44100)(audio)
    return gain * audio


def parameter_errors(spec, truth: np.ndarray, guess: np.ndarray) -> dict:
    """Algorithm accuracy and mean |error| in steps of one voice (what `evaluate` reports per
    parameter, averaged over the spec's choices and over its stepped parameters)."""
    scores = discrete_scores(spec, truth[None], guess[None])
    return {"accuracy": float(np.mean(list(scores["accuracy"].values()))),
            "steps": float(np.mean(list(scores["step_error"].values())))}


def summarise(name: str, rows: list[dict]) -> dict:
    out = {"row": name, "count": len(rows)}
    for key in ("accuracy", "steps", "sc", "logmel_l1", "seconds"):
        values = [r[key] for r in rows if r.get(key) is not None]
        out[key] = float(np.mean(values)) if values else None
    out["sc_median"] = float(np.median([r["sc"] for r in rows]))
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/dexed"))
    parser.add_argument("--spec", default="dexed-small", help="dexed-small or dexed-voice")
    parser.add_argument("--count", type=int, default=30000, help="training renders")
    parser.add_argument("--minutes", type=float, default=12, help="training time per model")
    parser.add_argument("--refine", default="3s", help="budget of the refined row")
    parser.add_argument("--refine-every", type=int, default=4)
    args = parser.parse_args(argv)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    fitted = out / f"{args.spec}-fitted.yaml"
    if not fitted.exists():
        run("spec", "fit", args.spec, "--presets", HEXTER, "--out", fitted)
    run("render", "--spec", fitted, "--count", args.count, "--workers", 2, "--out", out / "data")
    for backbone, name in (("ast-tiny", "ast"), ("mlp", "mlp")):
        lr = ["--lr", "3e-4"] if backbone == "ast-tiny" else []
        run("train", "--data", out / "data", "--backbone", backbone, "--epochs", 200,
            "--time-budget", args.minutes, "--batch-size", 64, *lr, "--out", out / name)
    prepared = time.perf_counter() - began

    spec = load_spec(fitted)
    synth = plugins.create_adapter(spec)
    voices = [v for bank in sorted(HEXTER.glob("*.dx7")) for v in synth.load_presets(bank)]
    full = [tuple(v.values()) for v in voices]
    features = FeatureConfig(sample_rate=spec.render.sample_rate)
    targets, mels, truths, ceilings = [], [], [], []
    for values in voices:
        synth.set_patch(values)  # the whole voice
        targets.append(synth.render_note())
        mels.append(log_mel(targets[-1], features).flatten())
        truths.append(spec.from_synth(values))
    for truth in truths:
        base = plugins.create_adapter(spec)  # INIT VOICE, then the spec's values
        ceilings.append(base.render_patch(spec.to_synth(truth)))
    mels = torch.stack(mels)
    truths = np.stack(truths)

    own = f"the voice's {len(spec)} values"
    rows: dict[str, list[dict]] = {"nearest factory voice": [], own: []}
    distances = torch.cdist(mels, mels)
    for i, target in enumerate(targets):
        same = [j for j in range(len(voices)) if full[j] == full[i]]
        distances[i, same] = float("inf")  # itself and its exact duplicates
        j = int(distances[i].argmin())
        rows["nearest factory voice"].append(
            {**scores(target, at_best_gain(target, targets[j])),
             **parameter_errors(spec, truths[i], truths[j])})
        rows[own].append(
            {**scores(target, at_best_gain(target, ceilings[i])), "accuracy": 1.0, "steps": 0.0})

    for name in ("ast", "mlp"):
        matcher = Matcher.load(out / name / "best.pt")
        for label, refine, subset in ((f"{name} network", 0, 1),
                                      (f"{name} + refine {args.refine}", args.refine,
                                       args.refine_every)):
            if name == "mlp" and refine:
                continue
            rows[label] = []
            for i in range(0, len(targets), subset):
                t0 = time.perf_counter()
                match = matcher.match(targets[i], sample_rate=spec.render.sample_rate,
                                      note=spec.render.note, refine=refine)
                rows[label].append({**scores(targets[i], match.audio),
                                    **parameter_errors(spec, truths[i], match.params),
                                    "seconds": time.perf_counter() - t0})
            print(f"{label}: {summarise(label, rows[label])}", flush=True)

    order = ["ast network", f"ast + refine {args.refine}", "mlp network",
             "nearest factory voice", own]
    table = [summarise(k, rows[k]) for k in order]
    lines = ["| | voices | algorithm accuracy | mean error (steps) | SC mean | SC median | "
             "log-mel L1 (80 dB) | s/voice |", "|---|---|---|---|---|---|---|---|"]
    for s in table:
        seconds = f"{s['seconds']:.2f}" if s["seconds"] is not None else "-"
        lines.append(f"| {s['row']} | {s['count']} | {s['accuracy']:.3f} | {s['steps']:.2f} | "
                     f"{s['sc']:.3f} | {s['sc_median']:.3f} | {s['logmel_l1']:.3f} | "
                     f"{seconds} |")
    markdown = "\n".join(lines) + "\n"
    (out / "results.md").write_text(markdown)
    (out / "results.json").write_text(json.dumps(
        {"summary": table, "rows": rows, "voices": len(voices), "count": args.count,
         "minutes": args.minutes, "prepare_seconds": prepared,
         "total_seconds": time.perf_counter() - began}, indent=1))
    print(markdown)
    print(f"{len(voices)} factory voices; data and training {prepared / 60:.1f} min, "
          f"all {(time.perf_counter() - began) / 60:.1f} min")


if __name__ == "__main__":
    main()
