"""Render throughput: soundmatch's render job against the bare synth loop, in the same run.

    python benchmarks/render.py [--count 3000] [--repeats 3] [--spec builtin]
    python benchmarks/render.py --spec tests/vst3synth/testsynth.yaml   # the VST3 test synth
    python benchmarks/render.py --spec dexed-small                      # Dexed, via dexed-py

The reference is the plainest code that produces the same examples: a loop that renders a sampled
patch with the synth itself (the built-in synth's render call, a plain pedalboard loop for a
VST3, dexed-py's own calls for Dexed) and computes its log-mel, in 1 process or in a process pool
of all cores (startup included, as for soundmatch). soundmatch adds the spec sampling, silence
check, shard writing (fsync, atomic rename), the crash-tolerant worker pool and progress
reporting.
Figures are medians of the repeats; ratio = soundmatch / bare (1.0 = no overhead).
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _bare_init(spec_name: str = "builtin"):
    """The reference: the synth itself, no soundmatch machinery. For a VST3 spec that is a plain
    pedalboard loop over the plugin; for the built-in synth, its adapter's render call."""
    import torch

    from soundmatch import plugins
    from soundmatch.features import FeatureConfig

    torch.set_num_threads(1)
    global _SPEC, _RENDER, _FEATURES
    # One live instance of the synth, as in a soundmatch worker: the previous run's plugin sits in
    # a reference cycle, and a second live instance of a JUCE plugin makes every render of the
    # first about 20 % faster (README, Speed), which flattered the 1-worker reference before.
    _RENDER = None
    gc.collect()
    _SPEC = plugins.resolve_spec(spec=spec_name)
    _FEATURES = FeatureConfig(sample_rate=_SPEC.render.sample_rate)
    if _SPEC.adapter == "vst3":
        import pedalboard

        from soundmatch.adapter import code_path

        plugin = pedalboard.load_plugin(str(code_path(_SPEC, "plugin_path")))
        r = _SPEC.render
        notes = [(bytes([0x90, r.note, r.velocity]), 0.0),
                 (bytes([0x80, r.note, 0]), r.note_length)]

        def render(patch):
            for name, value in patch.items():
                setattr(plugin, name, value)
            audio = plugin(notes, duration=r.duration, sample_rate=r.sample_rate, num_channels=2)
            return audio.mean(axis=0)

        _RENDER = render
    elif _SPEC.adapter == "dexed":
        # The bare dexed-py loop: a voice as sysex bytes into the synth, one note out.
        from dexed import DexedSynth, Patch
        from soundmatch_dexed import INDEX

        synth = DexedSynth(sample_rate=float(_SPEC.render.sample_rate))
        base = bytearray(Patch().to_sysex())
        r = _SPEC.render

        def render(patch):
            voice = bytearray(base)
            for name, value in patch.items():
                voice[INDEX[name]] = round(value)
            synth.load_patch(Patch.from_sysex(bytes(voice)))
            return synth.render(midi_note=r.note, velocity=r.velocity,
                                note_duration=r.note_length, render_duration=r.duration)

        _RENDER = render
    else:
        _RENDER = plugins.create_adapter(_SPEC).render_patch


def _bare_chunk(args):
    from soundmatch.features import log_mel

    seed, n = args
    rng = np.random.default_rng(seed)
    for u in _SPEC.sample(rng, n):
        log_mel(_RENDER(_SPEC.to_synth(u)), _FEATURES)
    return n


def _noop(_):
    return None


def bare(spec: str, count: int, workers: int) -> tuple[float, float]:
    """(end-to-end, steady) examples/s of the bare loop; steady leaves out process startup."""
    start = time.perf_counter()
    if workers == 1:
        _bare_init(spec)
        steady_start = time.perf_counter()
        _bare_chunk((0, count))
    else:
        chunks = [(i, count // workers) for i in range(workers)]
        with mp.get_context("spawn").Pool(workers, initializer=_bare_init,
                                          initargs=(spec,)) as pool:
            pool.map(_noop, range(workers), chunksize=1)  # every worker is up
            steady_start = time.perf_counter()
            pool.map(_bare_chunk, chunks, chunksize=1)
    end = time.perf_counter()
    return count / (end - start), count / (end - steady_start)


def soundmatch_job(spec_name: str, count: int, workers: int) -> tuple[float, float]:
    """(end-to-end, steady) examples/s of `render_dataset`; steady is measured from the first
    progress report (all workers up) to the end."""
    from soundmatch import plugins
    from soundmatch.render import render_dataset

    spec = plugins.resolve_spec(spec=spec_name)
    first: list[tuple[float, int]] = []

    def on_progress(done):
        if not first:
            first.append((time.perf_counter(), done))

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        # (the parameter check that `soundmatch render` runs first is not timed here)
        summary = render_dataset(spec, Path(tmp) / "data", count, workers=workers,
                                 check=False, on_progress=on_progress)
        end = time.perf_counter()
    assert summary.complete and summary.present == count
    t1, n1 = first[0]
    return count / (end - start), (count - n1) / (end - t1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--spec", default="builtin",
                        help="a spec name or file, e.g. tests/vst3synth/testsynth.yaml")
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    _bare_init(args.spec)
    _bare_chunk((0, 4))  # compile the numba voice once so no run pays for it
    print(f"{_SPEC.name} ({_SPEC.adapter}), {args.count} examples per run, {args.repeats} runs, "
          f"{cores} cores")
    print(f"{'workers':>8} | {'bare ex/s':>10} {'soundmatch':>10} {'ratio':>6} | "
          f"{'steady: bare':>12} {'soundmatch':>10} {'ratio':>6}")
    for workers in sorted({1, cores}):
        ref, ours = [], []
        for _ in range(args.repeats):  # alternated, so that a drift of the machine hits both
            ref.append(bare(args.spec, args.count, workers))
            ours.append(soundmatch_job(args.spec, args.count, workers))
        r_e2e, r_steady = (statistics.median(x) for x in zip(*ref, strict=True))
        o_e2e, o_steady = (statistics.median(x) for x in zip(*ours, strict=True))
        print(f"{workers:>8} | {r_e2e:>10.1f} {o_e2e:>10.1f} {o_e2e / r_e2e:>6.2f} | "
              f"{r_steady:>12.1f} {o_steady:>10.1f} {o_steady / r_steady:>6.2f}", flush=True)
    print("end-to-end includes starting the worker processes; steady leaves it out")


if __name__ == "__main__":
    sys.exit(main())
