"""What a ``scoring.ProcessScorer`` worker process runs: one synth instance that renders the
search's candidates, whose distances the parent computes.

Nothing here imports torch, nor does anything a worker loads to render (the plugins, the spec):
a spawned worker that imported it took 1.3 s more to start, on the cores the parent needed, and
a cold ``match`` on a plugin waited for it (tests/test_match_any_synth.py keeps it out).
"""

from __future__ import annotations

import atexit
import sys

import numpy as np

from . import plugins
from .exiting import exit_now
from .pool import _die_with_parent
from .spec import spec_from_dict

_WORKER: dict = {}


def init(spec_data: dict, source: str, trusted: bool) -> None:
    _die_with_parent()
    # The pool ends its workers when the search is done: each then exits at once rather than
    # take the interpreter apart first (exiting.exit_now), which the parent would wait for.
    atexit.register(exit_now)
    if "torch" in sys.modules:  # a plugin of the user's imported it: one thread per worker
        sys.modules["torch"].set_num_threads(1)
    spec = spec_from_dict(spec_data, source=source, trusted=trusted)
    adapter = plugins.create_adapter(spec)
    _WORKER.update(spec=spec, adapter=adapter, base=adapter.get_patch(), last=None)


def render(job: tuple) -> np.ndarray:
    params, note, base, samples = job
    adapter = _WORKER["adapter"]
    base = _WORKER["base"] if base is None else base
    if base != _WORKER["last"]:
        adapter.set_patch(base)
        _WORKER["last"] = base
    return adapter.render_patch(_WORKER["spec"].to_synth(params), note=note, samples=samples)
