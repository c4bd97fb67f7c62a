"""Match sounds the built-in synth did not make, with and without refinement (docs/results.md):

    python examples/ood_matches.py [--checkpoint PATH] [--refine 200] [--out docs/results/ood]
    python examples/ood_matches.py --set real --out docs/results/real   # picks of the benchmark

Prints a markdown table of spectral distances (and writes it to OUT/table.md) and keeps, per sound,
the input, the network's match and the refined match as small MP3s (pedalboard's encoder) and a
PNG of the input's and the refined match's spectrograms.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import yaml
from pedalboard.io import AudioFile

from soundmatch.features import log_mel
from soundmatch.matcher import Matcher
from soundmatch.plots import plot_comparison

SOUNDS = Path(__file__).parent / "sounds"
OUT_OF_DOMAIN = {
    "pluck-a3.wav": "plucked string (Karplus-Strong), 48 kHz stereo",
    "bell-e4.wav": "struck bar (modal model, inharmonic)",
    "hat.wav": "filtered noise burst, no pitch",
    "voice-ah.wav": "sung 'ah' (espeak-ng)",
    "voice-oo.wav": "sung 'oo' (espeak-ng)",
}
REAL = Path(__file__).parents[1] / "benchmarks" / "real-sounds"
REAL_PICKS = ("sf-trumpet.flac", "sf-marimba.flac", "sf-cello.flac", "fp-rhodes.flac",
              "voice-ah-f.flac", "hum-mm-m.flac", "sf-pad-warm.flac", "drum-snare.flac")


def real_sounds() -> dict[str, str]:
    manifest = yaml.safe_load((REAL / "manifest.yaml").read_text())["sounds"]
    return {s["file"]: s["source"] for s in manifest if s["file"] in REAL_PICKS}


def write_mp3(path: Path, audio: np.ndarray, rate: int) -> None:
    peak = float(np.abs(audio).max()) or 1.0
    with AudioFile(str(path), "w", rate, 1, quality="V2") as f:
        f.write((audio / max(1.0, peak)).astype(np.float32)[None])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", help="[default: the shipped model]")
    parser.add_argument("--refine", default="6s", help="renders (200) or seconds (6s)")
    parser.add_argument("--set", choices=["examples", "real"], default="examples",
                        help="examples/sounds, or picks of benchmarks/real-sounds")
    parser.add_argument("--out", type=Path, default=Path("docs/results/ood"))
    args = parser.parse_args(argv)
    folder, sounds = (SOUNDS, OUT_OF_DOMAIN) if args.set == "examples" else (REAL, real_sounds())
    args.out.mkdir(parents=True, exist_ok=True)
    matcher = Matcher.load(args.checkpoint)
    rate = matcher.sample_rate
    rows = ["| sound | what it is | note | network | + refine | change | SC network | SC refined |",
            "|---|---|---|---|---|---|---|---|"]
    for name, what in sounds.items():
        stem = Path(name).stem
        plain = matcher.match(folder / name)
        refined = matcher.match(folder / name, refine=args.refine)
        before, after = plain.scores["spectral_distance"], refined.scores["spectral_distance"]
        note = f"{refined.note:.2f}" if refined.pitched else f"{refined.note:.2f} (no pitch found)"
        rows.append(f"| [{name}]({stem}.input.mp3) | {what} | {note} | "
                    f"[{before:.3f}]({stem}.match.mp3) | [{after:.3f}]({stem}.refined.mp3) | "
                    f"{(after - before) / before:+.0%} | "
                    f"{plain.scores['spectral_convergence']:.3f} | "
                    f"{refined.scores['spectral_convergence']:.3f} |")
        write_mp3(args.out / f"{stem}.input.mp3", plain.target, rate)
        write_mp3(args.out / f"{stem}.match.mp3", plain.audio, rate)
        write_mp3(args.out / f"{stem}.refined.mp3", refined.audio, rate)
        features = matcher.checkpoint.features
        plot_comparison(log_mel(refined.target, features).numpy(),
                        log_mel(refined.audio, features).numpy(), args.out / f"{stem}.png",
                        title=f"{name}: refined match, spectral distance {after:.3f}",
                        labels=("input", "refined match"))
        print(rows[-1], flush=True)
    table = "\n".join(rows) + (f"\n\nSpectral distance and SC (lower is better); refine: "
                               f"`match --refine {args.refine}` (several starts, then CMA-ES).")
    (args.out / "table.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
