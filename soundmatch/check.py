"""``soundmatch spec check``: prove that every parameter of a spec reaches the synth's audio.

Some hosts and plugins silently drop parameter values when a note is rendered (pedalboard issue
#339: Massive reset to its defaults on every MIDI render), which makes every render of a dataset
sound the same. For each parameter this sets it to its minimum and maximum in a few patches (the
defaults and some sampled ones), renders, and checks that

- the synth still holds the value after the render (read back through the adapter), and
- moving it across its range changes the audio (mean absolute log-mel difference) in at least one
  of those patches: a parameter can be silent in one patch (osc 2 pitch with osc 2 muted).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import plugins
from .adapter import AUDIBLE_THRESHOLD, holds
from .errors import SoundmatchError
from .features import FeatureConfig, log_mel
from .spec import Spec

OK = "ok"
REJECTED = "value not taken: wrong plugin parameter name or range"
RESET = "value reset by the host on render"
SILENT = "no audible effect in this base preset"
DROPPED = "no parameter changes the sound: the host does not pass values to the synth's engine"


@dataclass
class ParameterCheck:
    name: str
    holds: bool
    distance: float
    verdict: str
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.verdict == OK


def check_spec(spec: Spec, adapter=None, patches: int = 3, seed: int = 0,
               threshold: float = AUDIBLE_THRESHOLD) -> list[ParameterCheck]:
    """Check every parameter of ``spec`` on ``adapter`` (built from the spec if not given), in the
    default patch and ``patches - 1`` sampled ones."""
    adapter = adapter or plugins.create_adapter(spec)
    features = FeatureConfig(sample_rate=spec.render.sample_rate)
    contexts = [spec.defaults()]
    if patches > 1:
        # Uniform over the ranges, not the spec's sampling distributions: whether a knob does
        # something is the synth's property. A spec fitted to presets that all leave the
        # highpass at 20 Hz would otherwise call its resonance dead.
        rng = np.random.default_rng(seed)
        contexts += list(rng.random((patches - 1, len(spec))).astype(np.float32))
    results = []
    for i, p in enumerate(spec.parameters):
        held_before = held_after = True
        distance, detail = 0.0, ""
        for context in contexts:
            mels = []
            for end in (0.0, 1.0):
                u = np.array(context, dtype=np.float32)
                u[i] = end
                patch = spec.to_synth(u)
                adapter.set_patch(patch)
                before = adapter.get_patch()
                audio = adapter.render_note()
                after = adapter.get_patch()
                if not holds(p, patch, before):
                    held_before = False
                    detail = f"set {patch[p.synth_name]:g}, synth holds {before.get(p.synth_name)}"
                elif not holds(p, patch, after):
                    held_after = False
                    detail = (f"set {patch[p.synth_name]:g}, after the render the synth holds "
                              f"{after.get(p.synth_name)}")
                mels.append(log_mel(audio, features))
            distance = max(distance, float((mels[0] - mels[1]).abs().mean()))
        if not held_before:
            verdict = REJECTED
        elif not held_after:
            verdict = RESET
        elif distance < threshold:
            verdict = SILENT
            detail = f"distance {distance:.3f} < {threshold:g} in {len(contexts)} patches"
        else:
            verdict = OK
        results.append(ParameterCheck(p.name, held_before and held_after, distance, verdict,
                                      detail))
    if len(results) > 1 and all(r.verdict == SILENT for r in results):
        # One silent parameter is a base-preset matter; all of them at once is a host matter
        # (the plugin reports the values it was given while its engine plays its defaults).
        for r in results:
            r.verdict = DROPPED
    return results


def failure_message(spec: Spec, results: list[ParameterCheck]) -> str:
    failed = [r for r in results if not r.passed]
    listed = "; ".join(f"{r.name} ({r.verdict})" for r in failed)
    return (f"{spec.source}: spec check failed for {len(failed)} of {len(results)} parameters: "
            f"{listed}")


# The check in a worker process: a synth that crashes as it loads or renders takes the worker
# down, not the command that asked (render's quick check, `spec check`).

def init_check_worker(spec_data: dict, source: str, trusted: bool):
    from .spec import spec_from_dict

    spec = spec_from_dict(spec_data, source=source, trusted=trusted)
    return spec, plugins.create_adapter(spec)


def run_check_task(state, patches: int, progress=None) -> tuple[list[ParameterCheck], list[str]]:
    spec, adapter = state
    return check_spec(spec, adapter, patches=patches), adapter.notes()


def check_in_worker(spec: Spec, patches: int) -> tuple[list[ParameterCheck], list[str]]:
    """``check_spec`` in a worker process; a synth that keeps crashing is one SoundmatchError."""
    from .pool import WorkerPool

    pool = WorkerPool(1, init_check_worker, (spec.to_dict(), spec.source, spec.trusted),
                      run_check_task, retries=1)
    result = pool.run([(0, patches)])
    if 0 not in result.done:
        raise SoundmatchError(f"{spec.source}: the synth crashed during the parameter check "
                              f"({result.failed.get(0, 'worker died')})")
    return result.done[0]
