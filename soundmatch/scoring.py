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
from .adapter import SynthAdapter
from .errors import SoundmatchError
from .metrics import MatchDistance
from .search import Candidate
from .spec import Spec

# Renders candidates (their parameters, notes and base patches) for as many samples, in order.
RenderFn = Callable[["list[Candidate]", int], "list[np.ndarray]"]


class AdapterRenders:
    """Renders candidates on one adapter instance: each one's parameters (normalised, ``spec``'s)
    on its base patch (a preset's whole patch; None: ``base``), at its note. All at once where
    the adapter renders faster so (``renders_together``); else one by one, the base sent only
    when it changes (most candidates share their start's)."""

    def __init__(self, adapter: SynthAdapter, spec: Spec, base: dict[str, float]):
        self.adapter, self.spec, self.base = adapter, spec, base
        self.lanes = adapter.lanes if type(adapter).renders_together else 1
        self.sent: dict[str, float] | None = None  # the base the adapter holds, where known

    def __call__(self, candidates: list[Candidate],
                 samples: int | None = None) -> list[np.ndarray]:
        """Each candidate's first ``samples`` (None: all)."""
        bases = [self.base if c.base is None else c.base for c in candidates]
        if type(self.adapter).renders_together:  # whole patches: ``sent`` plays no part
            patches = [{**b, **self.spec.to_synth(c.params)}
                       for b, c in zip(bases, candidates, strict=True)]
            return self.adapter.render_patches(patches, [c.note for c in candidates],
                                               samples=samples)
        renders = []
        for base, c in zip(bases, candidates, strict=True):
            if self.sent is not base:
                self.adapter.set_patch(base)
                self.sent = base
            renders.append(self.adapter.render_patch(self.spec.to_synth(c.params), note=c.note,
                                                     samples=samples))
        return renders


class ThreadScorer:
    """Scores candidates, each rendered and measured with the search's distance, on
    ``len(renders)`` threads with one render function (adapter) each: a function of
    (candidates, samples) -> the first ``samples`` of each one's note (as long as the distance's
    target). Each thread's candidates are given to its function at once."""

    def __init__(self, renders: Sequence[RenderFn]):
        self.renders = list(renders)
        # What each function renders side by side (``SynthAdapter.lanes``): the search's
        # generations come in multiples of it.
        self.lanes = min(getattr(r, "lanes", 1) for r in self.renders)
        self.pool = ThreadPoolExecutor(len(self.renders)) if len(self.renders) > 1 else None

    def __call__(self, distance: MatchDistance, candidates: list[Candidate]) -> None:
        """Fills in each candidate's distance and gain, in place."""
        def score(k: int, share: list[Candidate]) -> None:
            for c, audio in zip(share, self.renders[k](share, distance.samples), strict=True):
                c.distance, c.gain = distance(audio)

        if self.pool is None:
            score(0, candidates)
            return
        # Worker k takes candidates k, k + n, ...: each adapter instance is used by one thread.
        n = len(self.renders)
        list(self.pool.map(lambda k: score(k, candidates[k::n]), range(n)))

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

        self.renders, self.source, self.lanes = [None] * processes, spec.source, 1
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

