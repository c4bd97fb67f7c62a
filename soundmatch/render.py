"""``soundmatch render``: sample patches from a spec, render them, keep the audible ones, compute
features and write them as shards of a dataset (see ``soundmatch.dataset``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import dataset, plugins
from .adapter import NonFiniteRender
from .errors import SoundmatchError
from .features import FeatureConfig, log_mel
from .pool import WorkerPool
from .spec import Spec, spec_from_dict

CANDIDATE_BATCH = 64
TOGETHER = 8  # patches rendered at once by a synth that renders together
# A spec whose renders are nearly all silent would loop forever; give up at this ratio.
MAX_DROP_RATIO = 20


@dataclass
class RenderSummary:
    """What one render run did."""

    out: Path
    count: int              # examples the dataset holds when complete
    present: int            # examples written so far (all processes)
    rendered: int           # examples this run wrote
    dropped: int            # renders this run dropped as silent or invalid
    lost: int               # patches this run lost because they crashed the synth
    seconds: float
    shards_done: int
    shards_total: int
    failed_shards: int
    worker_deaths: int
    bytes_on_disk: int

    @property
    def complete(self) -> bool:
        return self.shards_done == self.shards_total

    @property
    def rate(self) -> float:
        return self.rendered / self.seconds if self.seconds > 0 else 0.0


def default_shard_size(count: int) -> int:
    """Shards of 512 for large datasets; at least 32 shards for small ones, so that every worker
    has work. Depends on the count alone: a resumed render must find the same layout."""
    return min(512, max(32, -(-count // 32)))


def feature_config_for(spec: Spec) -> FeatureConfig:
    return FeatureConfig(sample_rate=spec.render.sample_rate)


def make_manifest(spec: Spec, count: int, seed: int, shard_size: int,
                  keep_audio: bool = False, features: FeatureConfig | None = None,
                  checked: bool = True) -> dataset.Manifest:
    features = features or feature_config_for(spec)
    if features.sample_rate != spec.render.sample_rate:
        raise SoundmatchError(
            f"feature sample rate {features.sample_rate} differs from the spec's "
            f"render.sample_rate {spec.render.sample_rate}"
        )
    return dataset.Manifest(spec=spec.to_dict(), features=features.to_dict(), count=count,
                            shard_size=shard_size, seed=seed, keep_audio=keep_audio,
                            check="passed" if checked else "skipped")


# ------------------------------------------------------------------------ worker side


@dataclass
class _WorkerState:
    spec: Spec
    adapter: object
    manifest: dataset.Manifest
    features: FeatureConfig
    root: Path


def init_render_worker(manifest_dict: dict, root: str, spec_source: str,
                       trusted: bool = False) -> _WorkerState:
    import torch

    torch.set_num_threads(1)  # one core per worker: the pool is the parallelism
    manifest = dataset.Manifest.from_dict(manifest_dict, root)
    spec = spec_from_dict(manifest.spec, source=spec_source, trusted=trusted)
    adapter = plugins.create_adapter(spec)
    return _WorkerState(spec, adapter, manifest, manifest.feature_config(), Path(root))


def render_shard(state: _WorkerState, task: tuple[int, frozenset], progress=None) -> dict:
    """Render shard ``index``. Its content depends only on the manifest, the index and the
    candidates to skip: candidates come from an RNG seeded with (seed, index); silent ones, and
    ones that crashed the synth before (``skip``), are replaced by the next."""
    index, skip = task
    spec, manifest = state.spec, state.manifest
    target = manifest.shard_count(index)
    rng = np.random.default_rng([manifest.seed, index])
    threshold = 10.0 ** (spec.render.silence_threshold_db / 20.0)
    n_mels, frames = state.features.shape(spec.render.num_samples)
    params = np.empty((target, len(spec)), dtype=np.float32)
    features = np.empty((target, n_mels, frames), dtype=np.float16)
    audio = None
    if manifest.keep_audio:
        audio = np.empty((target, spec.render.num_samples), dtype=np.float16)
    notes = np.empty(target, dtype=np.float32) if spec.render.notes else None
    kept = dropped = attempt = non_finite = 0
    last_non_finite = ""
    # A synth that renders several patches at once in less time (``renders_together``: the
    # built-in synth) renders TOGETHER ahead, the same shard: the renders are taken in order, up
    # to the count. A crash there is pinned to the group's first patch, so only synths that
    # render in this process, where a crash is not expected, say they render together.
    group = TOGETHER if type(state.adapter).renders_together else 1
    started = time.perf_counter()
    while kept < target:
        candidates = spec.sample(rng, CANDIDATE_BATCH)
        # Drawn only for a note range, so a single-note spec's shards stay as they were.
        pitches = (spec.render.sample_notes(rng, CANDIDATE_BATCH) if notes is not None
                   else [None] * CANDIDATE_BATCH)
        drawn = list(zip(candidates, pitches, strict=True))
        ahead: dict[int, np.ndarray | NonFiniteRender] = {}
        for position, (u, note) in enumerate(drawn):
            if kept == target:
                break
            attempt += 1
            if attempt in skip:
                continue  # this patch killed the synth: it is lost, not retried
            if attempt not in ahead:
                if progress:
                    progress((kept, attempt))  # before the render: a crash is pinned to it
                ahead = _render_ahead(state.adapter, spec, attempt,
                                      drawn[position:position + group], skip)
            y = ahead[attempt]
            if isinstance(y, NonFiniteRender):
                y, non_finite, last_non_finite = None, non_finite + 1, str(y)
            peak = float(np.max(np.abs(y))) if y is not None else 0.0
            if peak < threshold:
                dropped += 1
                continue
            params[kept] = u
            if notes is not None:
                notes[kept] = note
            features[kept] = log_mel(y, state.features).numpy()
            if audio is not None:
                audio[kept] = y
            kept += 1
        if dropped > MAX_DROP_RATIO * max(kept, target):
            if non_finite > dropped / 2:
                raise SoundmatchError(f"{last_non_finite} in {non_finite} of {dropped + kept} "
                                      "renders")
            raise SoundmatchError(
                f"{spec.source}: {dropped} of {dropped + kept} renders were below "
                f"{spec.render.silence_threshold_db:g} dBFS; the spec's ranges or base patch "
                "give (nearly) only silence"
            )
    # The dataset's key ties the shard to its manifest: a manifest edited afterwards (parameters
    # reordered, say) no longer describes the columns of params.npy, and reading it is refused.
    meta = {"index": index, "count": target, "dataset": manifest.key(), "dropped": dropped,
            "lost": len(skip),
            "seconds": round(time.perf_counter() - started, 3)}
    dataset.write_shard(state.root, index, meta, params=params, features=features, audio=audio,
                        notes=notes)
    if progress:
        progress((kept, attempt))
    return meta


def _render_ahead(adapter, spec: Spec, first: int, drawn: list, skip: frozenset
                  ) -> dict[int, np.ndarray | NonFiniteRender]:
    """The renders of the ``drawn`` (parameters, note) from attempt ``first`` on, by attempt,
    the ones to skip left out; a non-finite render as its error."""
    tries = [(first + k, spec.to_synth(u), spec.render.note if note is None else int(note))
             for k, (u, note) in enumerate(drawn) if first + k not in skip]
    if len(tries) > 1:
        try:
            return {a: y for (a, _, _), y in zip(tries, adapter.render_patches(
                [p for _, p, _ in tries], [n for _, _, n in tries]), strict=True)}
        except NonFiniteRender:
            pass  # which one: one by one
    ahead: dict[int, np.ndarray | NonFiniteRender] = {}
    for a, patch, note in tries:
        try:
            ahead[a] = adapter.render_patch(patch, note=note)
        except NonFiniteRender as exc:
            ahead[a] = exc
    return ahead


def _skip_crashed(index, task, last) -> tuple[int, frozenset]:
    """After a worker died on shard ``index``: retry it, skipping the candidate being rendered."""
    _, skip = task
    if last is None:
        return index, skip  # died before its first render: nothing to pin it on
    return index, skip | {last[1]}


# ------------------------------------------------------------------------ job side


def parse_shard(text: str) -> tuple[int, int]:
    """'i/N' -> (i, N): this process renders the shards whose index modulo N is i."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise SoundmatchError(f"--shard: found '{text}', expected i/N, e.g. 0/4") from None
    if n < 1 or not 0 <= i < n:
        raise SoundmatchError(f"--shard: found '{text}', expected i/N with 0 <= i < N")
    return i, n


def _size_on_disk(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def render_dataset(spec: Spec, out: str | Path, count: int, *, workers: int = 1, seed: int = 0,
                   shard: tuple[int, int] = (0, 1), shard_size: int | None = None,
                   keep_audio: bool = False, features: FeatureConfig | None = None,
                   check: bool = True, on_check=None, on_start=None,
                   on_progress=None) -> RenderSummary:
    """Render (or resume) a dataset of ``count`` examples into ``out``.

    With ``check`` (the default), first the parameter check (``check_in_worker``, in the
    spec's ``check.patches``): ``on_check(results, notes)`` sees its results before anything
    is written, and without one a failed check raises. The manifest records whether it ran.
    ``on_start(total_to_render, already_present)`` and ``on_progress(done_now)`` let a caller show
    progress; both are optional.
    """
    if count < 1:
        raise SoundmatchError(f"--count: found {count}, expected at least 1")
    if shard_size is None:
        shard_size = default_shard_size(count)
    if shard_size < 1:
        raise SoundmatchError(f"--shard-size: found {shard_size}, expected at least 1")
    if check:
        from .check import check_in_worker, failure_message

        results, notes = check_in_worker(spec, patches=spec.check_patches)
        if on_check:
            on_check(results, notes)
        if not all(r.passed for r in results):
            raise SoundmatchError(failure_message(spec, results))
    root = Path(out)
    manifest = make_manifest(spec, count, seed, shard_size, keep_audio, features, check)
    dataset.open_for_writing(root, manifest)
    dataset.remove_stale_temporaries(root)
    mine = [i for i in range(manifest.num_shards) if i % shard[1] == shard[0]]
    todo = sorted(set(mine) - dataset.completed_shards(root))
    total = sum(manifest.shard_count(i) for i in todo)
    present = sum(manifest.shard_count(i) for i in dataset.completed_shards(root)
                  if i < manifest.num_shards)
    if on_start:
        on_start(total, present)

    partial: dict[int, int] = {}

    def progress(tid, report):
        partial[tid] = report[0]  # (kept, attempt)
        if on_progress:
            on_progress(sum(partial.values()))

    started = time.perf_counter()
    pool = WorkerPool(workers, init_render_worker,
                      (manifest.to_dict(), str(root), spec.source, spec.trusted), render_shard)
    result = pool.run([(i, (i, frozenset())) for i in todo], on_progress=progress,
                      on_done=lambda tid, meta: progress(tid, (meta["count"], None)),
                      on_crash=_skip_crashed)
    seconds = time.perf_counter() - started
    done = dataset.completed_shards(root)
    return RenderSummary(
        out=root,
        count=count,
        present=sum(manifest.shard_count(i) for i in done if i < manifest.num_shards),
        rendered=sum(m["count"] for m in result.done.values()),
        dropped=sum(m["dropped"] for m in result.done.values()),
        lost=sum(m.get("lost", 0) for m in result.done.values()),
        seconds=seconds,
        shards_done=len([i for i in done if i < manifest.num_shards]),
        shards_total=manifest.num_shards,
        failed_shards=len(result.failed),
        worker_deaths=result.worker_deaths,
        bytes_on_disk=_size_on_disk(root),
    )
