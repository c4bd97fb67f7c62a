"""How fast the search renders candidates, against the synth's own loop in the same run.

    python benchmarks/search.py                         # the VST3 test instrument, 1 and 2 workers
    python benchmarks/search.py --renders 600 --repeats 3

For a synth that must render on its process's main thread (a VST3 plugin through pedalboard), the
search renders its candidates in worker processes, one plugin instance each. Each row times a
warm search (the worker processes already started) of ``--renders`` candidates from the spec's
defaults, and the reference is a plain loop in this process: set the patch, render, the same
distance. Medians of ``--repeats``; ratios against the loop of the same run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from soundmatch import Matcher
from soundmatch.search import MatchDistance

REPO = Path(__file__).resolve().parents[1]
TEST_SYNTH = REPO / "tests" / "vst3synth" / "testsynth.yaml"


def bare_loop(matcher: Matcher, target: np.ndarray, renders: int) -> float:
    """Renders per second of: set a random patch, render, score it; one instance, no search."""
    distance = MatchDistance(target, matcher.sample_rate)
    rng = np.random.default_rng(0)
    for _ in range(8):  # warm, like the search's
        distance(matcher.render(rng.random(len(matcher.spec)), 60.0))
    began = time.perf_counter()
    for _ in range(renders):
        distance(matcher.render(rng.random(len(matcher.spec)), 60.0))
    return renders / (time.perf_counter() - began)


def searched(matcher: Matcher, target: np.ndarray, renders: int) -> float:
    matcher.match(target, sample_rate=matcher.sample_rate, note=60.0, refine=16)  # warm
    began = time.perf_counter()
    result = matcher.match(target, sample_rate=matcher.sample_rate, note=60.0, refine=renders)
    return result.scores["renders"] / (time.perf_counter() - began)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", type=Path, default=TEST_SYNTH)
    ap.add_argument("--renders", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    console = Console(stderr=True)
    one = Matcher.for_synth(spec=args.spec, workers=1)
    two = Matcher.for_synth(spec=args.spec, workers=2)
    target = one.render(np.clip(one.spec.defaults() + 0.2, 0, 1), 60.0)
    rows: dict[str, list[float]] = {"bare loop (1 instance)": [], "search, 1 worker": [],
                                    "search, 2 worker processes": []}
    for k in range(args.repeats):
        rows["bare loop (1 instance)"].append(bare_loop(one, target, args.renders))
        rows["search, 1 worker"].append(searched(one, target, args.renders))
        rows["search, 2 worker processes"].append(searched(two, target, args.renders))
        console.print(f"repeat {k + 1}: " + ", ".join(f"{n} {v[-1]:.1f}/s"
                                                      for n, v in rows.items()))
    reference = float(np.median(rows["bare loop (1 instance)"]))
    table = Table(title=f"{one.spec.name}: search renders per second ({args.renders} renders, "
                        f"median of {args.repeats})")
    for col in ("", "renders/s", "of the bare loop"):
        table.add_column(col, justify="left" if not col else "right")
    for name, values in rows.items():
        median = float(np.median(values))
        table.add_row(name, f"{median:.1f}", f"{median / reference:.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
