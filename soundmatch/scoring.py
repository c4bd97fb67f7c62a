"""What renders and scores the search's candidates, in parallel: ``ThreadScorer``, one synth
instance per thread (synths that render without the GIL: the built-in synth, Dexed), and
``ProcessScorer``, one per worker process (plugins hosted by pedalboard, which render on their
process's main thread). Either returns what a serial loop would: each candidate is scored with
the search's distance, whoever rendered it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import render_worker
from .errors import SoundmatchError
from .metrics import MatchDistance
from .search import Candidate

RenderFn = Callable[[np.ndarray, float, "dict[str, float] | None", int], np.ndarray]


class ThreadScorer:
    """Scores candidates, each rendered and measured with the search's distance, on
    ``len(renders)`` threads with one render function (adapter) each: a
    function of (normalised parameters, note, base patch, samples) -> the first ``samples`` of
    that note (as long as the distance's target)."""

    def __init__(self, renders: Sequence[RenderFn]):
        self.renders = list(renders)
        self.pool = ThreadPoolExecutor(len(self.renders)) if len(self.renders) > 1 else None

    def __call__(self, distance: MatchDistance, candidates: list[Candidate]) -> None:
        """Fills in each candidate's distance and gain, in place."""
        def score(k: int, c: Candidate) -> None:
            audio = self.renders[k % len(self.renders)](c.params, c.note, c.base,
                                                        distance.samples)
            c.distance, c.gain = distance(audio)

        if self.pool is None:
            for c in candidates:
                score(0, c)
            return
        # Worker k takes candidates k, k + n, ...: each adapter instance is used by one thread.
        n = len(self.renders)
        list(self.pool.map(lambda k: [score(k, c) for c in candidates[k::n]], range(n)))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


class ProcessScorer(ThreadScorer):
    """Scores candidates rendered in ``processes`` worker processes, one synth instance each, for
    adapters that must render on their process's main thread (plugins hosted by pedalboard).
    The distances are computed here, in the order the candidates were given, so a search returns
    what a serial one would. Workers are spawned (a plugin or torch's threads are never forked
    half-initialised) and die with this process."""

    def __init__(self, spec, processes: int):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        self.renders, self.source = [None] * processes, spec.source
        self.pool = ProcessPoolExecutor(processes, mp.get_context("spawn"),
                                        initializer=render_worker.init,
                                        initargs=(spec.to_dict(), spec.source, spec.trusted))
        self.chunk = 4

    def __call__(self, distance: MatchDistance, candidates: list[Candidate]) -> None:
        from concurrent.futures.process import BrokenProcessPool

        jobs = [(c.params, c.note, c.base, distance.samples) for c in candidates]
        chunk = max(1, min(self.chunk, len(jobs) // len(self.renders)))
        try:
            for c, audio in zip(candidates, self.pool.map(render_worker.render, jobs,
                                                          chunksize=chunk), strict=True):
                c.distance, c.gain = distance(audio)
        except BrokenProcessPool:
            raise SoundmatchError(f"{self.source}: a synth process died while rendering the "
                                  "search's candidates (the synth crashed)") from None

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)

