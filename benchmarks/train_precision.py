"""Does faster training cost accuracy? The same short runs in float32 and with --precision auto.

    python benchmarks/train_precision.py [--count 10000] [--epochs 2] [--seeds 0 1]

Renders a builtin-16 dataset once, then trains each backbone (ast-tiny, mlp) for a few epochs with
each precision and seed through `soundmatch train`, and prints the best validation MSE and the
training samples/s of each run. Seeds give the run-to-run noise that a precision's difference is
judged against. (--precision auto is bf16 where the hardware has it, else float32: on a machine
without it both rows are the same.)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def soundmatch(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "soundmatch", *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--backbones", nargs="+", default=["ast-tiny", "mlp"])
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        soundmatch("render", "--spec", "builtin-16", "--count", str(args.count), "--workers", "2",
                   "--out", str(data), "--no-check")
        print(f"{args.count} builtin-16 examples, {args.epochs} epochs per run")
        print(f"{'backbone':>9} {'precision':>9} {'seed':>4} {'best val MSE':>12} "
              f"{'samples/s':>9}")
        for backbone in args.backbones:
            for precision in ("fp32", "auto"):
                mses, rates = [], []
                for seed in args.seeds:
                    run = Path(tmp) / f"{backbone}-{precision}-{seed}"
                    soundmatch("train", "--data", str(data), "--backbone", backbone,
                               "--epochs", str(args.epochs), "--seed", str(seed),
                               "--precision", precision, "--out", str(run))
                    summary = json.loads((run / "summary.json").read_text())
                    history = [json.loads(line) for line in
                               (run / "metrics.jsonl").read_text().splitlines()]
                    # The first epoch carries the one-off start-up (threads, allocator): left out.
                    rate = statistics.median(h["samples_per_s"] for h in history[1:] or history)
                    mses.append(summary["best_val_loss"])
                    rates.append(rate)
                    print(f"{backbone:>9} {precision:>9} {seed:>4} {mses[-1]:>12.5f} "
                          f"{rate:>9.1f}", flush=True)
                print(f"{backbone:>9} {precision:>9} {'mean':>4} {statistics.mean(mses):>12.5f} "
                      f"{statistics.mean(rates):>9.1f}", flush=True)


if __name__ == "__main__":
    main()
