"""DX7 resynthesis: can `match --synth dexed` find a factory voice it was not given?

    python benchmarks/dx7_voices.py                    # every 4th of hexter's 432 voices (108)
    python benchmarks/dx7_voices.py --every 16 --refine 3s --json out.json

Each held-out voice is played by Dexed at note 60 (the dexed-voice spec's render: 2 s, note held
1 s, velocity 100). It is matched the way `soundmatch match voice.wav --synth dexed --refine`
matches, through the Python API with the presets named explicitly: every factory voice except the
held-out one and its exact duplicates (the ROM and TX7 banks share voices) are the starts.
Rows:
- nearest other voice: the factory voice closest by the search's own distance, played at the
  note the match plays (what a preset browser with a perfect ear would pick);
- match: the search at the budget given, from those presets.
Scores are the real-sound benchmark's (SC on the linear STFT, log-mel L1 on an 80 dB range), the
match as written at its least-squares gain, the voice as rendered. Seconds are per voice, warm
(the CLI adds its start-up; `--cli` times one cold `soundmatch match` to show it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from soundmatch import Matcher
from soundmatch.audio import write_wav
from soundmatch.matcher import DEFAULT_REFINE
from soundmatch.presets import read_presets

sys.path.insert(0, str(Path(__file__).parent))
from real_sounds import scores

HEXTER = Path("/usr/share/hexter")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--every", type=int, default=4, help="hold out every k-th voice")
    ap.add_argument("--refine", default=DEFAULT_REFINE, help="the search's budget")
    ap.add_argument("--candidates", type=int, default=1)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--json", type=Path, help="write every score here")
    ap.add_argument("--cli", action="store_true", help="also time one cold CLI match")
    args = ap.parse_args(argv)
    console = Console(stderr=True)

    matcher = Matcher.for_synth("dexed", workers=args.workers)
    voices, skipped = read_presets(matcher.adapter, [HEXTER])
    if not voices or skipped:
        sys.exit(f"needs hexter's factory voices in {HEXTER} (apt-get install hexter)")
    held = list(range(0, len(voices), args.every))
    refine = int(args.refine) if args.refine.isdigit() else args.refine
    rate, note = matcher.sample_rate, 60.0
    rows = []
    for k, i in enumerate(held):
        voice = voices[i]
        others = [v for v in voices if v.values != voice.values]
        target = matcher.render(matcher.spec.from_synth({**matcher.base, **voice.values}), note,
                                {**matcher.base, **voice.values})
        matcher.presets = others
        began = time.perf_counter()
        result = matcher.match(target, sample_rate=rate, refine=refine,
                               candidates=args.candidates)
        seconds = time.perf_counter() - began
        # The nearest other voice by the search's distance, at the note the match plays.
        matcher.presets = others
        nearest = matcher.match(target, sample_rate=rate, note=result.note,
                                refine=len(others) + 1)
        row = {"voice": voice.name, "note": result.note, "start": result.origin,
               "match": scores(target, result.audio), "seconds": seconds,
               "nearest": scores(target, nearest.audio), "nearest_voice": nearest.origin,
               "renders": result.scores["renders"]}
        rows.append(row)
        console.print(f"{k + 1}/{len(held)} {Path(voice.name).name}: match SC "
                      f"{row['match']['sc']:.3f} (nearest other voice "
                      f"{row['nearest']['sc']:.3f}), {seconds:.1f} s, "
                      f"{int(row['renders'])} renders", highlight=False)

    def mean(key, metric):
        return float(np.mean([r[key][metric] for r in rows]))

    wins = sum(r["match"]["sc"] < r["nearest"]["sc"] for r in rows)
    t = Table(title=f"{len(rows)} held-out DX7 factory voices (every {args.every}th of "
                    f"{len(voices)}), dexed-voice, refine {refine}")
    for col in ("", "SC mean", "SC median", "closer than the nearest other voice",
                "log-mel L1 (80 dB)", "s/voice (median)"):
        t.add_column(col, justify="left" if not col else "right")
    t.add_row("nearest other factory voice", f"{mean('nearest', 'sc'):.3f}",
              f"{np.median([r['nearest']['sc'] for r in rows]):.3f}", "-",
              f"{mean('nearest', 'logmel_l1'):.3f}", "-")
    t.add_row(f"match --synth dexed --refine {refine}", f"{mean('match', 'sc'):.3f}",
              f"{np.median([r['match']['sc'] for r in rows]):.3f}", f"{wins} of {len(rows)}",
              f"{mean('match', 'logmel_l1'):.3f}",
              f"{np.median([r['seconds'] for r in rows]):.1f}")
    Console().print(t)
    if args.cli:
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "voice.wav"
            write_wav(wav, target, rate)
            began = time.perf_counter()
            subprocess.run([sys.executable, "-m", "soundmatch", "match", str(wav), "--synth",
                            "dexed", "--refine", str(refine), "--out", tmp], check=True,
                           capture_output=True)
            Console().print(f"one cold `soundmatch match voice.wav --synth dexed --refine "
                            f"{refine}`: {time.perf_counter() - began:.1f} s")
    if args.json:
        args.json.write_text(json.dumps({"refine": str(refine), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
