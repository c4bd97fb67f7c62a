"""The search behind ``match --refine``: several starts rendered and ranked, then CMA-ES (or, for a
synth of steps and choices, a climb) from the best, each generation rendered in parallel. The
distance it minimises is ``metrics.MatchDistance``.

Why these choices (measured on benchmarks/real_sounds.py; see docs/results.md):
- One network guess is often in the wrong basin on a real sound (an octave off, a sustained sound
  read as a decaying one). Rendering a few starts and keeping the closest costs a few renders.
- The output level is part of the match: every candidate is scored at the gain that brings it
  closest to the target (closed form, in ``MatchDistance``), and the match is written at that
  gain.
- The distance is ``SC + log-mel L1``: spectral convergence (linear magnitudes) carries the loud
  structure (harmonic balance, exact pitch, the envelope of the loud part); the log-mel term on an
  80 dB range carries the quiet structure (tails, noise, upper partials) that SC cannot see.
  Either alone let the search trade away what the other measures.
- It only calls ``render``, so it works for every adapter. Renders run on one adapter instance per
  thread: the built-in synth's numba voice and torch's STFT release the GIL. Candidates are scored
  in the order CMA-ES proposes them, so a parallel search returns what a serial one would.
- Candidates are rendered only while the input sounds, and 0.25 s more (``renders_prefix``
  adapters render no more than that): a one-shot in a long note costs a fraction of the note.
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from .metrics import MatchDistance


@dataclass
class Candidate:
    params: np.ndarray  # normalised, in the spec's order
    note: float
    distance: float = np.inf
    gain: float = 1.0
    # The synth's full patch (synth names and units) the spec's parameters are set on: a
    # preset's own values for everything the spec does not search. None: the adapter's base.
    base: dict[str, float] | None = None
    origin: str = ""    # where the candidate grew from: "network", "defaults", "preset NAME"
    # How much closer than the others this candidate must be to win: its distance is compared
    # multiplied by this (an octave start must be measurably closer, see matcher.OCTAVE_MARGIN).
    handicap: float = 1.0

    @property
    def rank(self) -> float:
        """What candidates from different starts are ranked by: the distance, handicapped."""
        return self.distance * self.handicap


@dataclass
class SearchResult:
    best: Candidate
    start: Candidate        # the best of the starts, before the search moves
    network: Candidate      # the first start (the network's guess, where there is a network)
    renders: int
    seconds: float
    # The best candidate of each run of the search, best first (``runs`` of them, from distinct
    # starts).
    ranked: list[Candidate] = field(default_factory=list)


# More starts than PRERANK_ABOVE are ranked on the input's first PRERANK_SECONDS first, and only
# the closest third of them (at least and at most PRERANK_KEEP) on all of it. Hexter's 432 DX7
# voices cost 1.3 s of a 6 s search on a 2 s sound, and the voice closest over the whole sound
# was among the 32 closest over its first 0.5 s on each of 22 real sounds (at rank 8 or better
# on 20). The network's 23 guesses (builtin-rich): 8 ranked on the whole kept the same guess on
# all 66 real sounds, a match without search 0.25 -> 0.18 s (benchmarks/real_sounds.py
# --skip-refine); 4 changed it on 7.
PRERANK_ABOVE, PRERANK_SECONDS, PRERANK_KEEP = 16, 0.5, (8, 32)
# A climb from the closest start alone often stays in that start's basin: the climb continues
# from whichever of the HEATS closest distinct starts got closest in a short climb of its own
# (HEAT_SHARE of what is left of the budget each). On every third of the 66 real sounds on
# Dexed at 1,500 renders: SC 0.445 -> 0.421, closer on 14 of 22 (3 heats of 5 %, 20 % and 5
# heats of 6 %: 0.429, 0.431, 0.434; docs/results.md).
HEATS, HEAT_SHARE = 3, 0.1


class Budget:
    """``--refine``: a number of renders (``200``), or seconds (``8s``)."""

    def __init__(self, text: str | int):
        text = str(text).strip().lower()
        self.seconds = float(text[:-1]) if text.endswith("s") else None
        self.renders = None if self.seconds is not None else int(text)
        # float() takes "nan" and "inf": "nans" is no budget, and "infs" one that never ends.
        if ((self.seconds is not None and not 0 <= self.seconds < math.inf)
                or (self.renders or 0) < 0):
            raise ValueError(f"found {text!r}, expected renders (200) or seconds (8s), >= 0")

    def __bool__(self) -> bool:
        return bool(self.seconds) or bool(self.renders)

    def __str__(self) -> str:
        return f"{self.seconds:g}s" if self.seconds is not None else str(self.renders)

    def left(self, used: int, started: float) -> int:
        """Renders still allowed (time budgets: a large number until the time is up)."""
        if self.seconds is not None:
            return 1 << 30 if time.perf_counter() - started < self.seconds else 0
        return max(0, self.renders - used)

    def share(self, used: int, started: float, fraction: float = 1.0, parts: int = 1) -> Budget:
        """A ``parts``-th of ``fraction`` of what is left after ``used`` renders since
        ``started``: renders, or seconds, as this budget is (a search's runs and heats)."""
        if self.renders is not None:
            return Budget(int(self.left(used, started) * fraction) // parts)
        remaining = self.seconds - (time.perf_counter() - started)
        return Budget(f"{max(0.0, remaining) * fraction / parts}s")


# What renders and scores candidates (``soundmatch.scoring``): fills in each one's distance and
# gain, in place.
Scorer = Callable[[MatchDistance, "list[Candidate]"], None]


def distinct_starts(starts: list[Candidate], runs: int, min_distance: float = 0.05
                    ) -> list[Candidate]:
    """The ``runs`` best starts that are not near each other (near: the same note and base
    patch, and parameters within ``min_distance`` RMS): several answers grow from several
    places."""
    chosen: list[Candidate] = []
    for c in sorted(starts, key=lambda c: c.rank):
        if not any(_near(c, o, min_distance) for o in chosen):
            chosen.append(c)
        if len(chosen) == runs:
            break
    return chosen


def _near(a: Candidate, b: Candidate, within: float) -> bool:
    return (a.note == b.note and a.base == b.base
            and float(np.sqrt(np.mean((a.params - b.params) ** 2))) <= within)


@dataclass(frozen=True)
class Space:
    """What the search needs to know of a spec's parameters, on the normalised scale: the width
    of one step (0 for a continuous parameter) and the number of choices (0 if none)."""

    steps: np.ndarray
    choices: np.ndarray

    @classmethod
    def of(cls, spec) -> Space:
        steps = [p.step / (p.max - p.min) if p.type == "steps" and p.max > p.min else 0.0
                 for p in spec.parameters]
        return cls(np.array(steps), np.array([p.num_choices for p in spec.parameters]))

    @property
    def mostly_discrete(self) -> bool:
        return bool(np.mean((self.steps > 0) | (self.choices > 0)) > 0.5)


def search(scorer: Scorer, distance: MatchDistance, starts: list[Candidate],
           budget: Budget, sigma: float = 0.15, seed: int = 0,
           on_render: Callable[[int, float], None] | None = None, runs: int = 1,
           space: Space | None = None) -> SearchResult:
    """Rank ``starts`` (the first is the network's guess, where there is one), then search from
    the ``runs`` best distinct starts, each at its note and on its base patch, sharing what is
    left of ``budget`` equally: CMA-ES over the normalised parameters, or, for a ``space`` of
    mostly steps and choices, a climb that changes a few of them at a time (``_climb``; one run
    goes on from the best of short climbs from several starts, ``HEATS``). Never returns worse
    than the best start; ``ranked`` holds the best of each run."""
    began = time.perf_counter()
    _one_thread_each.enter()
    try:
        lanes = getattr(scorer, "lanes", 1)
        used = _rank(scorer, distance, starts, budget)
        start = min(starts, key=lambda c: c.rank)
        best = start
        if on_render:
            on_render(used, best.distance)
        chosen = distinct_starts(starts, runs)
        if runs == 1 and space is not None and space.mostly_discrete:
            chosen, n = _heats(scorer, distance, starts, budget, used, began, space, seed,
                               on_render, best.distance)
            used += n
        ranked = []
        for i, origin in enumerate(chosen):
            share = budget.share(used, began, parts=len(chosen) - i)  # this run's
            def progress(n: int, d: float, before: int = used, so_far: float = best.distance):
                if on_render:
                    on_render(before + n, min(d, so_far))

            if space is not None and space.mostly_discrete:
                found, n = _climb(scorer, distance, origin, share, space, seed + i, progress)
            else:
                found, n = _cma(scorer, distance, origin, share, sigma, seed + i, progress,
                                lanes)
            used += n
            ranked.append(found)
            if found.rank < best.rank:
                best = found
    finally:
        _one_thread_each.leave()
    ranked = [_final(c) for c in sorted(ranked or [start], key=lambda c: c.rank)]
    return SearchResult(_final(best), start, starts[0], used, time.perf_counter() - began,
                        ranked)


def _heats(scorer: Scorer, distance: MatchDistance, starts: list[Candidate],
           budget: Budget, used: int, began: float, space: Space, seed: int,
           on_render: Callable[[int, float], None] | None, so_far: float
           ) -> tuple[list[Candidate], int]:
    """The start the climb goes on from (``HEATS``): ([it], the renders the heats used)."""
    contenders = distinct_starts(starts, HEATS)
    if len(contenders) < 2:
        return contenders, 0
    share = budget.share(used, began, HEAT_SHARE)
    spent, finishers = 0, []
    for j, contender in enumerate(contenders):
        def progress(n: int, d: float, before: int = used + spent, best: float = so_far):
            if on_render:
                on_render(before + n, min(d, best))

        found, n = _climb(scorer, distance, contender, share, space, seed + 100 + j, progress)
        spent += n
        finishers.append(found)
        so_far = min(so_far, found.distance)
    return [min(finishers, key=lambda c: c.rank)], spent


def _rank(scorer: Scorer, distance: MatchDistance, starts: list[Candidate],
          budget: Budget) -> int:
    """Scores ``starts`` in place; returns the renders used. Many starts are scored on the
    input's opening first (``PRERANK_*``), where a budget of renders has room for both
    rankings; those not among the closest there keep an infinite distance, and the first start
    (the network's guess, which the record reports) is always scored on the whole."""
    fewest, most = PRERANK_KEEP
    keep = min(most, max(fewest, len(starts) // 3))
    room = not budget.renders or len(starts) + keep + 1 <= budget.renders
    opening = (distance.opening(PRERANK_SECONDS) if len(starts) > PRERANK_ABOVE and room
               else None)
    if opening is None:
        scorer(distance, starts)
        return len(starts)
    scorer(opening, starts)
    order = sorted(range(len(starts)), key=lambda i: starts[i].rank)
    kept = {0, *order[:keep]}
    for i, c in enumerate(starts):
        if i not in kept:
            c.distance = np.inf
    finalists = [starts[i] for i in sorted(kept)]
    scorer(distance, finalists)
    return len(starts) + len(finalists)


class _OneThreadEach:
    """One torch thread and one BLAS thread while a search runs. The parallelism is across
    candidates, not inside one STFT; and numpy's OpenBLAS would run CMA-ES's small
    eigendecompositions on threads that then spin, waiting for more, on the cores the renders
    need: one BLAS thread took the builtin-rich search from 88 to 137 renders/s on 2 cores
    (benchmarks/search.py).

    torch keeps a limit per thread, but sets a thread's from one shared value the first time
    that thread uses torch, whatever it was told before; that shared value is the last any
    thread set. So two searches at once (serve --jobs 2) share the limits: the first to begin
    reads torch's limit outside a search; each search's thread is made to use torch before it
    is limited (else its first STFT could take the 2 another search just restored), and gets
    the outside limit back when its search ends; the shared value stays 1 while any search runs
    (the render threads it starts take theirs from it), and the BLAS limit is lifted when the
    last one ends (tests/test_match.py)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._active = 0
        self._blas = None
        self._outside = 1

    def enter(self) -> None:
        from threadpoolctl import threadpool_limits

        with self._lock:
            threads = torch.get_num_threads()  # this thread's limit, set now if it had none
            if self._active == 0:
                self._outside = threads
                self._blas = threadpool_limits(1, user_api="blas")
            self._active += 1
            torch.set_num_threads(1)

    def leave(self) -> None:
        with self._lock:
            self._active -= 1
            torch.set_num_threads(self._outside)
            if self._active == 0:
                self._blas.restore_original_limits()
                self._blas = None
            else:  # the shared value back to 1, from a thread whose own limit does not matter
                setter = threading.Thread(target=torch.set_num_threads, args=(1,))
                setter.start()
                setter.join()


_one_thread_each = _OneThreadEach()


def _final(c: Candidate) -> Candidate:
    return replace(c, params=np.clip(c.params, 0, 1).astype(np.float32))


_CMA_LOCK = threading.Lock()


def _import_cma():
    """The cma package without the matplotlib it imports for plots we never draw: that import
    was 0.5 s of a match from the command line. Once, under a lock: searches on other threads
    (``serve --jobs``) must not see matplotlib blocked, nor unblock it twice."""
    import sys

    with _CMA_LOCK:
        if "cma" in sys.modules:
            return sys.modules["cma"]
        blocked = [name for name in ("matplotlib", "matplotlib.pyplot")
                   if name not in sys.modules]
        for name in blocked:
            sys.modules[name] = None  # type: ignore[assignment]  # an import of it fails, quietly
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "Could not import matplotlib.pyplot"
                import cma
        finally:
            for name in blocked:
                del sys.modules[name]
        return cma


def generation_size(parameters: int, lanes: int = 1) -> int:
    """CMA-ES's generation for ``parameters`` parameters: its default (4 + 3 ln n), rounded up to
    a multiple of the ``lanes`` the synth renders side by side (``SynthAdapter.lanes``), since a
    part-filled group of lanes costs what a full one does. builtin-rich: 13 -> 16, 1.1x the
    renders in the same time, and as close at an equal number of renders (docs/results.md)."""
    default, lanes = 4 + int(3 * math.log(max(parameters, 1))), max(1, int(lanes))
    return -(-default // lanes) * lanes


def _cma(scorer: Scorer, distance: MatchDistance, start: Candidate, budget: Budget,
         sigma: float, seed: int, on_render: Callable[[int, float], None], lanes: int = 1
         ) -> tuple[Candidate, int]:
    """CMA-ES from ``start`` within ``budget``: the best candidate seen, and the renders used."""
    began, used, best = time.perf_counter(), 0, start
    if not budget:
        return best, 0
    cma = _import_cma()
    options = {"bounds": [0.0, 1.0], "seed": seed + 1, "verbose": -9, "tolfun": 1e-6,
               "popsize": generation_size(len(start.params), lanes)}
    if budget.renders is not None:
        options["maxfevals"] = max(1, budget.renders)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cma warns about its own internals (flat fitness)
        es = cma.CMAEvolutionStrategy(np.clip(start.params, 0, 1), sigma, options)
        while not es.stop() and (room := budget.left(used, began)) > 0:
            asked = es.ask()
            # The last population of a render budget may be cut short: it is scored, not told
            # to CMA-ES (a partial population would mislead it), and the search ends.
            population = [replace(start, params=np.asarray(u, dtype=np.float64),
                                  distance=np.inf)
                          for u in asked[:room]]
            scorer(distance, population)
            used += len(population)
            for c in population:
                if c.distance < best.distance:
                    best = c
            on_render(used, best.distance)
            if len(population) < len(asked):
                break
            es.tell(asked, [c.distance for c in population])
    return best, used


def _climb(scorer: Scorer, distance: MatchDistance, start: Candidate, budget: Budget,
           space: Space, seed: int, on_render: Callable[[int, float], None],
           population: int = 4) -> tuple[Candidate, int]:
    """A (1+λ) evolution strategy for synths whose parameters are mostly steps and choices (a
    DX7 voice): each of ``population`` children changes one to a few parameters of the best so
    far, a step parameter by a few steps, a choice to another choice, and the closest child
    replaces the best if it is closer. The number of steps grows while moves succeed and shrinks
    while they fail (the 1/5 rule). After a success, one child repeats the move that succeeded
    (a pattern move: a level that was too low is often lower still). CMA-ES moves every
    parameter at once: from a DX7 preset, in 138 dimensions, every such move was farther
    (benchmarks/dx7_voices.py). Four children rather than eight, and the pattern move, took the
    mean distance on 22 real sounds from 0.894 to 0.880 at 1,900 renders (docs/results.md)."""
    rng = np.random.default_rng(seed)
    began, used, best, scale = time.perf_counter(), 0, start, 2.0
    n = len(start.params)
    is_choice = np.asarray(space.choices) > 0
    last_move = None
    # The budget is asked once per generation: a time budget that ran out between two asks
    # left a generation of no children (and min() of nothing).
    while (room := budget.left(used, began)) > 0:
        children = []
        if last_move is not None:
            again = np.clip(np.asarray(best.params, dtype=np.float64) + last_move, 0.0, 1.0)
            children.append(replace(start, params=again, distance=np.inf))
        while len(children) < min(population, room):
            u = np.array(best.params, dtype=np.float64)
            for j in rng.choice(n, size=min(n, int(rng.geometric(0.5))), replace=False):
                if space.choices[j]:
                    k = space.choices[j]
                    u[j] = (rng.integers(k) + 0.5) / k
                elif space.steps[j]:
                    move = max(1.0, round(abs(rng.normal(0.0, scale))))
                    u[j] = np.clip(u[j] + rng.choice((-1.0, 1.0)) * move * space.steps[j], 0, 1)
                else:
                    u[j] = np.clip(u[j] + rng.normal(0.0, 0.02 * scale), 0.0, 1.0)
            children.append(replace(start, params=u, distance=np.inf))
        scorer(distance, children)
        used += len(children)
        closest = min(children, key=lambda c: c.distance)
        improved = closest.distance < best.distance
        last_move = None
        if improved:
            # A choice that changed has no direction to go on in.
            move = np.where(is_choice, 0.0, np.asarray(closest.params) - np.asarray(best.params))
            last_move = move if move.any() else None
            best = closest
        scale = float(np.clip(scale * (1.5 if improved else 0.9), 1.0, 20.0))
        on_render(used, best.distance)
    return best, used
