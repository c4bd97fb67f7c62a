"""``soundmatch spec fit``: sampling distributions fitted to a synth's presets.

Each parameter gets an empirical distribution over the values it takes in the presets (on the
normalised scale) with Gaussian jitter of Silverman's bandwidth: a kernel density estimate. It keeps
what presets do that no parametric fit would, such as an oscillator tuned to unison, a fifth or an
octave and rarely anything between.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from . import plugins
from .distributions import Categorical, Empirical
from .errors import SoundmatchError
from .presets import read_presets
from .spec import Spec


def preset_values(spec: Spec, folder: Path, exclude: Path | None = None
                  ) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Normalised values (presets x parameters) of the presets the adapter can read."""
    adapter = plugins.create_adapter(spec)
    try:
        presets, skipped = read_presets(adapter, [folder], exclude)
    finally:
        adapter.close()
    rows = []
    for preset in presets:
        problem = _preset_problem(spec, preset.values)
        if problem:
            skipped.append((preset.name, problem))
        else:
            rows.append(spec.from_synth(preset.values))
    return np.array(rows, dtype=np.float64), skipped


def _preset_problem(spec: Spec, values: dict) -> str | None:
    """Why a preset's values cannot be fitted (missing, not finite, out of range), or None.
    Out-of-range values are reported, never clipped silently into the fit."""
    missing = [p.synth_name for p in spec.parameters if p.synth_name not in values]
    if missing:
        return f"has no value for {', '.join(missing[:3])}"
    for p in spec.parameters:
        value = values[p.synth_name]
        if not isinstance(value, (int, float)) or not np.isfinite(value):
            return f"{p.synth_name}: found {value!r}, expected a finite number"
        tolerance = 1e-6 * (p.max - p.min)
        if not p.min - tolerance <= value <= p.max + tolerance:
            return f"{p.synth_name}: found {value:g}, outside the spec's {p.min:g}..{p.max:g}"
    return None


def fit_spec(spec: Spec, folder: Path, decimals: int = 4, exclude: Path | None = None
             ) -> tuple[Spec, int, list]:
    values, skipped = preset_values(spec, folder, exclude)
    if len(values) < 2:
        raise SoundmatchError(f"{folder}: found {len(values)} usable presets for "
                              f"{spec.name}, expected at least 2")
    parameters = []
    for j, p in enumerate(spec.parameters):
        if p.type == "choice":
            indices = np.round(p.denormalise(values[:, j]) - p.min)
            distribution = Categorical.fit(indices, p.num_choices)
        else:
            distribution = Empirical.fit(values[:, j], decimals)
        parameters.append(replace(p, distribution=distribution))
    return replace(spec, parameters=tuple(parameters)), len(values), skipped
