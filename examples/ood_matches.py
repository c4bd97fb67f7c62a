"""Match sounds the built-in synth did not make, with and without refinement (docs/results.md):

    python examples/ood_matches.py [--checkpoint PATH] [--refine 200] [--out docs/results/ood]

Prints a markdown table of spectral distances (and writes it to OUT/table.md) and keeps, per sound,
the input, the network's match and the refined match as small MP3s (pedalboard's encoder) and a
PNG of the input's and the refined match's spectrograms.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
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


def write_mp3(path: Path, audio: np.ndarray, rate: int) -> None:
    peak = float(np.abs(audio).max()) or 1.0
    with AudioFile(str(path), "w", rate, 1, quality="V2") as f:
        f.write((audio / max(1.0, peak)).astype(np.float32)[None])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", type=Path, help="[default: the shipped model]")
    parser.add_argument("--refine", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("docs/results/ood"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    matcher = Matcher.load(args.checkpoint)
    rate = matcher.sample_rate
    rows = ["| sound | what it is | note | network | + refine | change |",
            "|---|---|---|---|---|---|"]
    for name, what in OUT_OF_DOMAIN.items():
        stem = Path(name).stem
        plain = matcher.match(SOUNDS / name)
        refined = matcher.match(SOUNDS / name, refine=args.refine)
        before, after = plain.scores["spectral_distance"], refined.scores["spectral_distance"]
        note = f"{plain.note}" if plain.pitched else f"{plain.note} (no pitch found)"
        rows.append(f"| [{name}]({stem}.input.mp3) | {what} | {note} | "
                    f"[{before:.3f}]({stem}.match.mp3) | [{after:.3f}]({stem}.refined.mp3) | "
                    f"{(after - before) / before:+.0%} |")
        write_mp3(args.out / f"{stem}.input.mp3", plain.target, rate)
        write_mp3(args.out / f"{stem}.match.mp3", plain.audio, rate)
        write_mp3(args.out / f"{stem}.refined.mp3", refined.audio, rate)
        features = matcher.checkpoint.features
        plot_comparison(log_mel(refined.target, features).numpy(),
                        log_mel(refined.audio, features).numpy(), args.out / f"{stem}.png",
                        title=f"{name}: refined match, spectral distance {after:.3f}",
                        labels=("input", "refined match"))
        print(rows[-1], flush=True)
    table = "\n".join(rows) + (f"\n\nSpectral distance (lower is better); refine: CMA-ES over "
                               f"{args.refine} renders from the network's guess.")
    (args.out / "table.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
