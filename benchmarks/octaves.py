"""Octave errors on the real-sound set: the pitch detector's, and the match's choice of octave.

    python benchmarks/octaves.py                    # the shipped model
    python benchmarks/octaves.py --checkpoint runs/x/best.pt

For every pitched sound of benchmarks/real-sounds (and the examples with a note in
examples/sounds/truth.yaml): the note YIN's period gives, the note ``detect_pitch`` gives (the
period, moved to the lowest partial present where its own is missing), and which of the network's
starts at the detected note and an octave either side is closest by the search's distance. An
octave start is taken only if it is closer by a margin: the table counts the octave errors (a
start 6 or more semitones from the true note) for each margin, which is how
``matcher.OCTAVE_MARGIN`` was chosen. Unpitched sounds (drums) are left out: no note is wrong.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import yaml
from rich.console import Console
from rich.table import Table

from soundmatch import audio as audio_io
from soundmatch.matcher import Matcher
from soundmatch.metrics import MatchDistance
from soundmatch.pitch import detect_f0, detect_pitch, hz_to_midi

ROOT = Path(__file__).parent.parent
MARGINS = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5)


def pitched_sounds() -> list[tuple[Path, float]]:
    real = ROOT / "benchmarks" / "real-sounds"
    sounds = [(real / s["file"], float(s["note"]))
              for s in yaml.safe_load((real / "manifest.yaml").read_text())["sounds"]
              if s["note"] is not None]
    examples = ROOT / "examples" / "sounds"
    truth = yaml.safe_load((examples / "truth.yaml").read_text())
    return sounds + [(examples / name, float(t["note"])) for name, t in truth.items()]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", help="model to match with [default: the shipped one]")
    args = ap.parse_args(argv)
    console = Console(stderr=True)
    matcher = Matcher.load(args.checkpoint)
    rate = matcher.sample_rate
    scorer = matcher.scorer
    rows = []
    for path, true in pitched_sounds():
        target, _ = audio_io.load_with_onset(path, rate, matcher.spec.render.num_samples)
        f0 = detect_f0(target, rate)
        pitch = detect_pitch(target, rate)
        if pitch is None:
            rows.append({"file": path.name, "true": true, "yin": None, "pitch": None})
            continue
        play = pitch if matcher.adapter.fractional_notes else float(round(pitch))
        distance = MatchDistance(target, rate, matcher.level, matcher.objective)
        starts = matcher.network_starts(target, pitch, play)
        scorer(distance, starts)
        best: dict[float, float] = {}
        for c in starts:
            offset = round(c.note - play)
            best[offset] = min(best.get(offset, np.inf), c.distance)
        rows.append({"file": path.name, "true": true, "yin": hz_to_midi(f0), "pitch": pitch,
                     "distances": best})
        console.print(f"  {path.name}: true {true:g}, YIN {hz_to_midi(f0):.2f}, detected "
                      f"{pitch:.2f}, " + ", ".join(f"{k:+d}: {v:.3f}"
                                                  for k, v in sorted(best.items())),
                      highlight=False)
    scorer.close()

    def wrong(note: float | None, true: float) -> bool:
        return note is not None and abs(note - true) >= 6

    out = Console()
    pitched = len(rows)
    out.print(f"{pitched} pitched sounds; octave errors of the detector: YIN's period "
              f"{sum(wrong(r['yin'], r['true']) for r in rows)}, detect_pitch "
              f"{sum(wrong(r['pitch'], r['true']) for r in rows)}")
    table = Table(title="octave errors of the network's starts, by the margin an octave start "
                        "must be closer by")
    for col in ("margin", "octave errors", "taken an octave away", "of which right"):
        table.add_column(col, justify="right")
    for margin in MARGINS:
        errors = moved = right = 0
        for r in rows:
            if r["pitch"] is None:
                continue
            d = r["distances"]
            offset = min(d, key=lambda k: d[k] / (1.0 if k == 0 else 1.0 - margin))
            note = r["pitch"] + offset
            errors += wrong(note, r["true"])
            if offset:
                moved += 1
                right += not wrong(note, r["true"])
        table.add_row(f"{margin:.2f}", str(errors), str(moved), str(right))
    out.print(table)


if __name__ == "__main__":
    main()
