"""How close `soundmatch match` gets to real sounds, against a plain sawtooth at the right pitch.

    python benchmarks/real_sounds.py                       # the shipped model, default refine
    python benchmarks/real_sounds.py --oracle 3000         # add a long multi-start search row
    python benchmarks/real_sounds.py --checkpoint runs/x/best.pt --json out.json

The set is benchmarks/real-sounds/ (built by make_real_sounds.py). Each row is scored on the files
as a user gets them: the input file as given and the ``.match.wav`` that ``Matcher.save`` writes,
both mono 44.1 kHz, the shorter zero-padded. The metrics are written here, apart from soundmatch's
own, following the definitions of the independent check:
- SC: ||S - Ŝ||_F / ||S||_F, S the linear STFT magnitude (n_fft 2048, hop 512, Hann, centred);
- log-mel L1: mean |ln max(M, f) - ln max(M̂, f)|, M = S through 64 HTK-mel triangles over
  0..sr/2, f = max(M) * 10^(-80/20) from the input (an 80 dB range);
- MR distance: soundmatch's multi-resolution log-spectral distance (what ``--refine`` reported
  before it was chosen by measurement; kept for comparison).
The reference row is a band-limited sawtooth at the sound's true pitch (the note in the manifest;
MIDI 60 for unpitched hits), gated 1 s with a 10 ms release, scaled to the input's RMS.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from rich.console import Console
from rich.table import Table

from soundmatch.audio import read_audio, resample, to_mono
from soundmatch.matcher import Matcher
from soundmatch.metrics import spectral_distance

SET = Path(__file__).parent / "real-sounds"
RATE = 44100
N_FFT, HOP, N_MELS = 2048, 512, 64


def stft_mag(x: np.ndarray) -> np.ndarray:
    t = torch.as_tensor(x, dtype=torch.float64)
    s = torch.stft(t, N_FFT, HOP, window=torch.hann_window(N_FFT, dtype=torch.float64),
                   center=True, return_complex=True)
    return s.abs().numpy()


def htk_mel_filters(rate: int = RATE) -> np.ndarray:
    def mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def hz(m):
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    freqs = np.linspace(0, rate / 2, N_FFT // 2 + 1)
    edges = hz(np.linspace(mel(0.0), mel(rate / 2), N_MELS + 2))
    fb = np.zeros((N_MELS, len(freqs)))
    for i in range(N_MELS):
        lo, mid, hi = edges[i:i + 3]
        fb[i] = np.maximum(0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))
    return fb


MEL = htk_mel_filters()


def pad_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = max(len(a), len(b))
    return np.pad(a, (0, n - len(a))), np.pad(b, (0, n - len(b)))


def scores(target: np.ndarray, estimate: np.ndarray) -> dict[str, float]:
    target, estimate = pad_pair(target, estimate)
    s, s_hat = stft_mag(target), stft_mag(estimate)
    sc = float(np.linalg.norm(s - s_hat) / max(np.linalg.norm(s), 1e-12))
    m, m_hat = MEL @ s, MEL @ s_hat
    floor = m.max() * 10 ** (-80 / 20)
    l1 = float(np.mean(np.abs(np.log(np.maximum(m, floor)) - np.log(np.maximum(m_hat, floor)))))
    return {"sc": sc, "logmel_l1": l1, "mr_distance": spectral_distance(target, estimate)}


def sawtooth(note: float, like: np.ndarray) -> np.ndarray:
    f0 = 440.0 * 2 ** ((note - 69) / 12)
    t = np.arange(len(like)) / RATE
    wave = np.zeros(len(like))
    for k in range(1, int(RATE / 2 / f0) + 1):
        wave += np.sin(2 * np.pi * k * f0 * t) / k
    gate = np.clip((1.0 + 0.01 - t) / 0.01, 0.0, 1.0)
    wave *= gate
    rms_in, rms_saw = np.sqrt(np.mean(like**2)), np.sqrt(np.mean(wave**2))
    return wave * rms_in / max(rms_saw, 1e-12)


def load_input(path: Path) -> np.ndarray:
    audio, rate = read_audio(path)
    return resample(to_mono(audio), rate, RATE).astype(np.float64)


def run_row(matcher: Matcher, sounds: list[dict], refine, starts: int | None,
            tmp: Path, label: str, console: Console) -> list[dict]:
    rows = []
    for k, sound in enumerate(sounds):
        path = SET / sound["file"]
        began = time.perf_counter()
        kwargs = {"refine": refine}
        if starts is not None:
            kwargs["starts"] = starts
        result = matcher.match(path, **kwargs)
        written = matcher.save(result, tmp, stem=f"{label}-{path.stem}")["audio"]
        seconds = time.perf_counter() - began
        rows.append({**scores(load_input(path), load_input(written)), "seconds": seconds,
                     "note": result.note, "detected": result.detected,
                     # an octave error: played 6 or more semitones from the sound's true note
                     "octave_error": (sound["note"] is not None
                                      and abs(result.note - sound["note"]) >= 6)})
        console.print(f"  {label} {k + 1}/{len(sounds)} {sound['file']}: SC "
                      f"{rows[-1]['sc']:.3f}, log-mel {rows[-1]['logmel_l1']:.3f}, "
                      f"{seconds:.1f} s", highlight=False)
    return rows


def summarise(name: str, rows: list[dict], saw: list[dict]) -> dict:
    sc = np.array([r["sc"] for r in rows])
    return {"row": name, "sc": float(sc.mean()), "sc_median": float(np.median(sc)),
            "logmel_l1": float(np.mean([r["logmel_l1"] for r in rows])),
            "mr_distance": float(np.mean([r["mr_distance"] for r in rows])),
            "wins": int(sum(r["sc"] < s["sc"] for r, s in zip(rows, saw, strict=True))),
            "octave_errors": int(sum(r.get("octave_error", False) for r in rows)),
            "count": len(rows),
            "seconds": float(np.median([r.get("seconds", 0.0) for r in rows]))}


def table(title: str, summaries: list[dict]) -> Table:
    t = Table(title=title)
    for col in ("", "SC mean", "SC median", "beats saw on SC", "log-mel L1 (80 dB)",
                "MR distance", "octave errors", "s/sound (median)"):
        t.add_column(col, justify="left" if not col else "right")
    for s in summaries:
        t.add_row(s["row"], f"{s['sc']:.3f}", f"{s['sc_median']:.3f}",
                  "-" if s["row"] == "sawtooth" else f"{s['wins']} of {s['count']}",
                  f"{s['logmel_l1']:.3f}", f"{s['mr_distance']:.3f}",
                  "-" if s["row"] == "sawtooth" else str(s["octave_errors"]),
                  "-" if s["row"] == "sawtooth" else f"{s['seconds']:.1f}")
    return t


def markdown(overall: list[dict], by_category: dict, categories: list[str],
             sounds: list[dict]) -> str:
    lines = ["| | SC mean | SC median | beats the sawtooth on SC | log-mel L1 (80 dB) | "
             "MR distance | octave errors | s/sound (median) |",
             "|---|---|---|---|---|---|---|---|"]
    for s in overall:
        saw = s["row"] == "sawtooth"
        wins = "-" if saw else f"{s['wins']} of {s['count']}"
        seconds = "-" if saw else f"{s['seconds']:.1f}"
        octaves = "-" if saw else str(s["octave_errors"])
        lines.append(f"| {s['row']} | {s['sc']:.3f} | {s['sc_median']:.3f} | {wins} | "
                     f"{s['logmel_l1']:.3f} | {s['mr_distance']:.3f} | {octaves} | {seconds} |")
    lines += ["", "SC mean by category (wins against the sawtooth):", "",
              "| category | n | " + " | ".join(s["row"] for s in overall) + " |",
              "|---|---|" + "---|" * len(overall)]
    for cat in categories:
        n = sum(s["category"] == cat for s in sounds)
        cells = [f"{s['sc']:.3f}" + ("" if s["row"] == "sawtooth" else f" ({s['wins']})")
                 for s in by_category[cat]]
        lines.append(f"| {cat} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", help="model to match with [default: the shipped one]")
    ap.add_argument("--synth", help="match on this synth with no model (its search spec and "
                    "installed presets, as `match --synth NAME`), and add a row for the "
                    "nearest preset by the search's distance")
    ap.add_argument("--refine", default="default",
                    help="refine budget of the 'refine' row, as `match --refine` takes it")
    ap.add_argument("--oracle", type=int, default=0, metavar="RENDERS",
                    help="add an oracle row: a multi-start search of this many renders")
    ap.add_argument("--oracle-starts", type=int, default=8)
    ap.add_argument("--objective", default="sc+logmel",
                    help="what the search minimises (sc+logmel, sc, logmel, multires)")
    ap.add_argument("--level", default="least-squares", help="least-squares or energy")
    ap.add_argument("--skip-network", action="store_true", help="no network-only row")
    ap.add_argument("--skip-refine", action="store_true", help="no default-refine row")
    ap.add_argument("--only", help="only sounds whose file name contains this")
    ap.add_argument("--limit", type=int, help="at most this many sounds (every k-th)")
    ap.add_argument("--json", type=Path, help="write every score here")
    ap.add_argument("--markdown", type=Path, help="write the tables here, as markdown")
    args = ap.parse_args(argv)

    console = Console(stderr=True)
    sounds = yaml.safe_load((SET / "manifest.yaml").read_text())["sounds"]
    if args.only:
        sounds = [s for s in sounds if args.only in s["file"]]
    if args.limit and args.limit < len(sounds):
        sounds = [sounds[i] for i in np.linspace(0, len(sounds) - 1, args.limit).astype(int)]
    if not sounds:
        sys.exit("no sounds selected")
    began = time.perf_counter()
    if args.synth:
        from soundmatch.presets import read_presets

        matcher = Matcher.for_synth(args.synth, level=args.level, objective=args.objective)
        matcher.presets, _ = read_presets(matcher.adapter, matcher.adapter.default_presets())
        args.skip_network = args.skip_network or matcher.model is None
    else:
        matcher = Matcher.load(args.checkpoint, level=args.level, objective=args.objective)
    load_seconds = time.perf_counter() - began
    model = matcher.checkpoint.path.name if matcher.checkpoint is not None else "no model"

    per_row: dict[str, list[dict]] = {}
    per_row["sawtooth"] = [scores(x, sawtooth(s["note"] if s["note"] is not None else 60.0, x))
                           for s in sounds for x in [load_input(SET / s["file"])]]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if not args.skip_network:
            per_row["network"] = run_row(matcher, sounds, 0, None, tmp, "network", console)
        if matcher.presets:
            # Every preset played at the sound's pitch, the closest by the search's distance
            # kept: a budget of exactly the starts leaves nothing for the search, and no memory
            # (its voices would take the place of presets among the starts).
            memory, matcher.memory = matcher.memory, None
            per_row["nearest preset"] = run_row(matcher, sounds, len(matcher.presets) + 1, None,
                                                tmp, "nearest", console)
            matcher.memory = memory
        refine = args.refine if not args.refine.isdigit() else int(args.refine)
        if refine == "default":
            from soundmatch.matcher import DEFAULT_REFINE
            refine = DEFAULT_REFINE
        if not args.skip_refine:
            per_row[f"refine {refine}"] = run_row(matcher, sounds, refine, None, tmp, "refine",
                                                  console)
        if args.oracle:
            per_row[f"oracle {args.oracle}x{args.oracle_starts}"] = run_row(
                matcher, sounds, args.oracle, args.oracle_starts, tmp, "oracle", console)

    out = Console()
    saw = per_row["sawtooth"]
    overall = [summarise(name, rows, saw) for name, rows in per_row.items()]
    out.print(table(f"{len(sounds)} real sounds, {matcher.spec.name} "
                    f"({model}; load {load_seconds:.1f} s)", overall))
    categories = sorted({s["category"] for s in sounds})
    by_category = {}
    t = Table(title="SC mean by category (wins against the sawtooth)")
    t.add_column("category")
    t.add_column("n", justify="right")
    for name in per_row:
        t.add_column(name, justify="right")
    for cat in categories:
        idx = [i for i, s in enumerate(sounds) if s["category"] == cat]
        sums = [summarise(name, [rows[i] for i in idx], [saw[i] for i in idx])
                for name, rows in per_row.items()]
        by_category[cat] = sums
        t.add_row(cat, str(len(idx)), *(
            f"{s['sc']:.3f}" + ("" if s["row"] == "sawtooth" else f" ({s['wins']})")
            for s in sums))
    out.print(t)
    if args.markdown:
        args.markdown.write_text(markdown(overall, by_category, categories, sounds))
    if args.json:
        args.json.write_text(json.dumps({
            "sounds": [s["file"] for s in sounds], "overall": overall,
            "by_category": by_category, "rows": per_row}, indent=1))


if __name__ == "__main__":
    main()
