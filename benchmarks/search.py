"""How fast the search renders candidates, against the bare loop in the same run; and what a match
costs around its search.

    python benchmarks/search.py                       # builtin-rich, dexed, the VST3 instrument
    python benchmarks/search.py --synths builtin-rich --renders 1000 --repeats 5
    python benchmarks/search.py --cold 3              # and `soundmatch match` from the shell

The search row times ``Matcher.match(sound, refine=N)`` on a real sound (examples/sounds), warm,
minus a ``refine`` of the starts alone: candidates per second of the search itself. The bare loop
renders and scores exactly the candidates that search tried, grouped as it grouped them, on the
same threads (or worker processes), as long as the search renders them (while the input sounds,
and 0.25 s more), with no search logic: what the synth and the distance allow. A second bare loop
renders the whole note (the spec's duration), as the search did before it rendered only the
sounding part.
A third runs the same batches on one thread: what the second thread adds, to read against what
two threads add to plain compiled arithmetic on this machine (measured in the same run, printed
under the table: on a shared virtual machine the second core is often not a whole one).
For the VST3 instrument, which renders in worker processes, a second reference is one plugin
instance in this process. Medians of ``--repeats``.

The distance table: what scoring one candidate costs, ``MatchDistance`` (one STFT and one
compiled pass) against the same distance in plain torch ops (``reference_match_distance``,
the target's side computed once for both), on the same renders, one thread (medians).

The match table: a warm ``Matcher.match(array)`` with no search (the network's guess; a synth
with no model always searches, at the default budget), and with ``--cold N`` the whole command
line, ``soundmatch match FILE --refine 10`` and at the default budget, each in a new process
(medians of N); and a warm match's stages, each timed where the match calls it: the network,
the starts' ranking (its renders), the match's own render and the scores written with it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
from rich.console import Console
from rich.table import Table

from soundmatch import Matcher
from soundmatch.audio import read_audio, sounding_length, to_mono
from soundmatch.matcher import TAIL_SECONDS
from soundmatch.metrics import MatchDistance, reference_match_distance
from soundmatch.scoring import ThreadScorer
from soundmatch.search import Candidate

REPO = Path(__file__).resolve().parents[1]
SOUND = REPO / "examples" / "sounds" / "pluck-a3.wav"
TEST_SYNTH = REPO / "tests" / "vst3synth" / "testsynth.yaml"
SYNTHS = {
    "builtin-rich": lambda: Matcher.load(),
    "dexed": lambda: Matcher.for_synth("dexed"),
    "vst3 test instrument": lambda: Matcher.for_synth(spec=TEST_SYNTH),
}
CLI = {"builtin-rich": [], "dexed": ["--synth", "dexed"],
       "vst3 test instrument": ["--spec", str(TEST_SYNTH)]}


class Recording:
    """Wraps a matcher's scorer: keeps every batch of candidates it is given."""

    def __init__(self, scorer):
        self.scorer, self.batches = scorer, []

    def __call__(self, distance, candidates):
        self.batches.append([(c.params.copy(), c.note, c.base) for c in candidates])
        self.scorer(distance, candidates)


def search_rate(matcher: Matcher, sound: np.ndarray, rate: int, renders: int):
    """(renders per second of the search, the batches it rendered past the starts)."""
    found = matcher.match(sound, sample_rate=rate, refine=1)  # warm
    first = int(found.scores["starts"])
    began = time.perf_counter()
    matcher.match(sound, sample_rate=rate, refine=first)
    start_seconds = time.perf_counter() - began
    recording = Recording(matcher.scorer)
    matcher.scorer = recording
    try:
        began = time.perf_counter()
        found = matcher.match(sound, sample_rate=rate, refine=first + renders)
        seconds = time.perf_counter() - began - start_seconds
    finally:
        matcher.scorer = recording.scorer
    searched = int(found.scores["renders"]) - first
    return searched / seconds, recording.batches[1:]


def bare_rate(matcher: Matcher, distance: MatchDistance, batches, scorer=None) -> float:
    """The same candidates, rendered and scored in the same batches on the same workers (or on
    ``scorer``)."""
    scorer = scorer or matcher.scorer
    count = sum(len(b) for b in batches)
    began = time.perf_counter()
    for batch in batches:
        scorer(distance, [Candidate(p, note, base=base) for p, note, base in batch])
    return count / (time.perf_counter() - began)


@numba.njit(nogil=True, cache=False)
def _arithmetic(n: int) -> float:
    x = 0.0
    for i in range(n):
        x = x * 0.999 + np.sqrt(i + x * x)
    return x


def machine_scaling(repeats: int, n: int = 20_000_000) -> float:
    """How much faster two threads run two equal compiled loops than one thread runs both:
    2.0 on two whole cores (median of ``repeats``)."""
    from concurrent.futures import ThreadPoolExecutor

    _arithmetic(10)
    ratios = []
    with ThreadPoolExecutor(2) as pool:
        for _ in range(repeats):
            began = time.perf_counter()
            _arithmetic(n), _arithmetic(n)
            alone = time.perf_counter() - began
            began = time.perf_counter()
            list(pool.map(_arithmetic, [n, n]))
            ratios.append(alone / (time.perf_counter() - began))
    return float(np.median(ratios))


def one_instance_rate(matcher: Matcher, distance: MatchDistance, batches) -> float:
    """The same candidates on one synth instance in this process, one after another."""
    count = sum(len(b) for b in batches)
    began = time.perf_counter()
    for batch in batches:
        for p, note, base in batch:
            distance(matcher.render(p, note, base))
    return count / (time.perf_counter() - began)


def distance_ms(distance: MatchDistance, renders, repeats: int = 5) -> tuple[float, float]:
    """Milliseconds per candidate: (MatchDistance, the same in plain torch ops), one thread."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        times = {"ours": [], "reference": []}
        for _ in range(repeats):
            for name, score in (("ours", distance),
                                ("reference", lambda a: reference_match_distance(distance, a))):
                began = time.perf_counter()
                for audio in renders:
                    score(audio)
                times[name].append(1000 * (time.perf_counter() - began) / len(renders))
    finally:
        torch.set_num_threads(threads)
    return float(np.median(times["ours"])), float(np.median(times["reference"]))


def warm_match_ms(matcher: Matcher, sound: np.ndarray, rate: int, repeats: int = 10) -> float:
    matcher.match(sound, sample_rate=rate)
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        matcher.match(sound, sample_rate=rate)
        times.append(time.perf_counter() - began)
    return 1000 * float(np.median(times))


# A warm match's stages, as the names ``soundmatch.matcher`` calls them by: (owner, name, label).
STAGES = (("audio_io", "prepare_with_onset", "resample, trim, fit"),
          ("", "detect_pitch", "pitch"),
          ("", "MatchDistance", "the target's spectra"),
          ("Matcher", "_predict", "the network"),
          ("", "search", "ranking the starts (renders)"),
          ("Matcher", "render", "the match rendered whole"),
          ("", "spectral_distance", "its spectral distance"),
          ("", "spectral_convergence", "its SC"))


def warm_stages(matcher: Matcher, sound: np.ndarray, rate: int,
                repeats: int = 10) -> dict[str, float]:
    """Milliseconds each of ``STAGES`` takes in a warm ``Matcher.match`` with no search (median
    over ``repeats`` matches of its total per match), and the whole match's."""
    from soundmatch import matcher as module

    spent: dict[str, list[float]] = {label: [0.0] for _, _, label in STAGES}  # a warm-up's
    saved = []
    for owner, name, label in STAGES:
        holder = getattr(module, owner) if owner else module
        original = getattr(holder, name)
        saved.append((holder, name, original))

        def timed(*a, _f=original, _label=label, **k):
            began = time.perf_counter()
            try:
                return _f(*a, **k)
            finally:
                spent[_label][-1] += time.perf_counter() - began
        setattr(holder, name, timed)
    try:
        matcher.match(sound, sample_rate=rate)
        whole = []
        for _ in range(repeats):
            for times in spent.values():
                times.append(0.0)
            began = time.perf_counter()
            matcher.match(sound, sample_rate=rate)
            whole.append(time.perf_counter() - began)
    finally:
        for holder, name, original in saved:
            setattr(holder, name, original)
    stages = {label: 1000 * float(np.median(times[-repeats:])) for label, times in spent.items()}
    return {**stages, "the whole match": 1000 * float(np.median(whole))}


def cold_seconds(args: list[str], repeats: int) -> float:
    times = []
    with tempfile.TemporaryDirectory() as out:
        for _ in range(repeats):
            began = time.perf_counter()
            subprocess.run([sys.executable, "-m", "soundmatch", "match", str(SOUND), *args,
                            "--out", out], check=True, capture_output=True)
            times.append(time.perf_counter() - began)
    return float(np.median(times))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--synths", nargs="+", choices=list(SYNTHS), default=list(SYNTHS))
    ap.add_argument("--renders", type=int, default=600)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cold", type=int, default=0, metavar="N",
                    help="also time the command line, N runs each")
    args = ap.parse_args(argv)
    console = Console(stderr=True)
    audio, rate = read_audio(SOUND)
    sound = to_mono(audio)
    speed = Table(title=f"search renders per second on {SOUND.name} ({args.renders} renders past "
                        f"the starts, median of {args.repeats})")
    for col in ("synth", "workers", "search", "bare loop, same candidates", "search / bare",
                "bare loop, one thread", "bare loop, whole notes", "one instance, in process"):
        speed.add_column(col, justify="left" if col == "synth" else "right")
    scoring = Table(title="scoring one candidate (ms, one thread, median)")
    for col in ("synth", "MatchDistance", "the same in torch ops", "ratio"):
        scoring.add_column(col, justify="left" if col == "synth" else "right")
    stages = Table(title="a match around its search")
    for col in ("synth", "warm Matcher.match, no search", "cold CLI --refine 10",
                "cold CLI --refine (default)"):
        stages.add_column(col, justify="left" if col == "synth" else "right")
    breakdown = Table(title="a warm match with no search, by stage (ms, median of 10)")
    breakdown.add_column("stage")
    parts: list[dict[str, float]] = []
    for name in args.synths:
        matcher = SYNTHS[name]()
        target = matcher.match(sound, sample_rate=rate, refine=1).target
        heard = sounding_length(target, matcher.sample_rate, TAIL_SECONDS)
        distance = MatchDistance(target, matcher.sample_rate, samples=heard)
        whole = MatchDistance(target, matcher.sample_rate)
        console.print(f"{name}: the search renders {heard / matcher.sample_rate:.2f} s of "
                      f"{len(target) / matcher.sample_rate:.2f} s")
        rows: dict[str, list[float]] = {"search": [], "bare": [], "thread": [], "whole": [],
                                        "one": []}
        threads = type(matcher.adapter).thread_safe and matcher.workers > 1
        for k in range(args.repeats):
            rate_searched, batches = search_rate(matcher, sound, rate, args.renders)
            rows["search"].append(rate_searched)
            rows["bare"].append(bare_rate(matcher, distance, batches))
            if threads:
                rows["thread"].append(bare_rate(matcher, distance, batches,
                                                ThreadScorer([matcher.scorer.renders[0]])))
            rows["whole"].append(bare_rate(matcher, whole, batches))
            if not type(matcher.adapter).thread_safe:
                rows["one"].append(one_instance_rate(matcher, distance, batches))
            console.print(f"{name} {k + 1}: " + ", ".join(f"{n} {v[-1]:.1f}/s"
                                                       for n, v in rows.items() if v))
        renders = [matcher.render(p, note, base)[:distance.samples]
                   for batch in batches for p, note, base in batch][:200]
        ours, reference = distance_ms(distance, renders)
        scoring.add_row(name, f"{ours:.2f}", f"{reference:.2f}", f"{reference / ours:.2f}x")
        med = {n: float(np.median(v)) if v else None for n, v in rows.items()}
        kind = "threads" if type(matcher.adapter).thread_safe else "processes"
        speed.add_row(name, f"{matcher.workers} {kind}", f"{med['search']:.1f}",
                      f"{med['bare']:.1f}",
                      f"{med['search'] / med['bare']:.2f}",
                      "-" if med["thread"] is None else
                      f"{med['thread']:.1f} (x{med['bare'] / med['thread']:.2f})",
                      f"{med['whole']:.1f}",
                      "-" if med["one"] is None else f"{med['one']:.1f}")
        warm = warm_match_ms(matcher, sound, rate, repeats=10 if matcher.model else 3)
        shown = f"{warm:.0f} ms" if matcher.model else f"{warm / 1000:.1f} s (6 s search)"
        cold = ([f"{cold_seconds([*CLI[name], '--refine', '10'], args.cold):.1f} s",
                 f"{cold_seconds([*CLI[name], '--refine'], args.cold):.1f} s"]
                if args.cold else ["-", "-"])
        stages.add_row(name, shown, *cold)
        console.print(f"{name}: warm match {warm:.0f} ms, cold {cold}")
        if matcher.model is not None:
            breakdown.add_column(name, justify="right")
            parts.append(warm_stages(matcher, sound, rate))
    speed.caption = (f"this machine: two threads run compiled arithmetic "
                     f"{machine_scaling(max(3, args.repeats)):.2f}x as fast as one (2.00: two "
                     f"whole cores)")
    out = Console()
    out.print(speed)
    out.print(scoring)
    out.print(stages)
    if parts:
        for label in parts[0]:
            breakdown.add_row(label, *(f"{p[label]:.1f}" for p in parts))
        out.print(breakdown)


if __name__ == "__main__":
    main()
