"""Parameter specs: which synth, how to render a note, and each parameter's range and distribution.

A spec is YAML (loaded with ``safe_load``). Every value that crosses between the synth and the
network goes through here: the network sees *normalised* parameters in [0, 1], ordered as the spec
lists them; only ``Parameter.normalise``/``denormalise`` convert to and from the synth's own units.
Sampling distributions live on the normalised scale too, so ``uniform`` on a log-scale parameter is
log-uniform in the synth's units.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .distributions import Categorical, Distribution, Uniform, parse_distribution
from .errors import SoundmatchError
from .fields import Fields, safe_load_yaml, show
from .fileio import read_bounded, write_text_atomic

SCALES = ("linear", "log")
DEFAULT_CHECK_PATCHES = 3
# A spec with an empirical distribution per parameter is a few hundred KB; 32 MB is far past any.
MAX_SPEC_BYTES = 32 << 20
MIN_DURATION = 0.1


# ---------------------------------------------------------------- parameters and render settings


TYPES = ("continuous", "steps", "choice")


@dataclass(frozen=True)
class Parameter:
    """One synth parameter: its range in the synth's units and how it is sampled.

    ``type`` says what values the synth takes: ``continuous`` (any value in [min, max]),
    ``steps`` (min, min + step, ..., max: whole numbers by default) or ``choice`` (one of
    ``choices``, the synth value being its index). On the normalised scale a stepped value sits
    where its synth value falls, and choice k of K covers [k/K, (k+1)/K) with its centre as the
    value; ``denormalise`` rounds to the nearest step or choice, so any [0, 1] value plays.
    """

    name: str
    synth_name: str
    min: float
    max: float
    scale: str = "linear"
    default: float = 0.0
    distribution: Distribution = field(default_factory=lambda: Uniform("uniform"))
    unit: str = ""
    description: str = ""
    type: str = "continuous"
    step: float = 1.0
    choices: tuple[str, ...] = ()

    @property
    def num_choices(self) -> int:
        """K for a choice parameter, else 0."""
        return len(self.choices) if self.type == "choice" else 0

    def normalise(self, value):
        """Synth units -> [0, 1] (clipped)."""
        value = np.clip(np.asarray(value, dtype=np.float64), self.min, self.max)
        if self.type == "choice":
            return (np.round(value - self.min) + 0.5) / self.num_choices
        if self.scale == "log":
            u = np.log(value / self.min) / math.log(self.max / self.min)
        else:
            u = (value - self.min) / (self.max - self.min)
        return np.clip(u, 0.0, 1.0)

    def denormalise(self, u):
        """[0, 1] -> synth units (clipped; rounded to a step or choice)."""
        u = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)
        if self.type == "choice":
            return self.min + np.minimum(np.floor(u * self.num_choices), self.num_choices - 1)
        if self.scale == "log":
            value = self.min * (self.max / self.min) ** u
        else:
            value = self.min + u * (self.max - self.min)
        if self.type == "steps":
            value = np.clip(self.min + np.round((value - self.min) / self.step) * self.step,
                            self.min, self.max)
        return value

    def snap(self, u):
        """A normalised value moved onto the value the synth will play (steps and choices)."""
        return u if self.type == "continuous" else self.normalise(self.denormalise(u))

    def label(self, value: float) -> str:
        """A synth value as a person reads it: a choice's name, a step's number, a continuous
        value to four figures."""
        if self.type == "choice":
            return self.choices[round(float(value) - self.min)]
        return f"{value:.4g}" if self.type == "continuous" else f"{value:g}"

    def to_dict(self) -> dict:
        out = {"name": self.name, "synth_name": self.synth_name}
        if self.type != "continuous":
            out["type"] = self.type
        if self.type == "choice":
            out["choices"] = list(self.choices)
        else:
            out.update(min=self.min, max=self.max, scale=self.scale)
            if self.type == "steps" and self.step != 1.0:
                out["step"] = self.step
        out.update(default=self.default, distribution=self.distribution.to_yaml())
        if self.unit:
            out["unit"] = self.unit
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True)
class RenderSettings:
    """How one example is rendered: a single note, held then released."""

    note: int = 60
    velocity: int = 127
    duration: float = 4.0
    note_length: float = 1.0
    sample_rate: int = 44100
    silence_threshold_db: float = -60.0
    # Train across notes: each example is rendered at a whole note drawn uniformly from this
    # inclusive range, and the model is told the note (see ``ParameterNet``). None: always ``note``.
    notes: tuple[int, int] | None = None

    @property
    def num_samples(self) -> int:
        return round(self.duration * self.sample_rate)

    def sample_notes(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` notes for ``n`` examples (all ``note`` unless a range is set)."""
        if self.notes is None:
            return np.full(n, self.note, dtype=np.int64)
        return rng.integers(self.notes[0], self.notes[1] + 1, n)

    def to_dict(self) -> dict:
        out = dict(self.__dict__)
        if self.notes is None:
            del out["notes"]  # so that a spec without a range keeps its fingerprint
        else:
            out["notes"] = list(self.notes)
        return out


def _parse_render(source: str, raw: Any) -> RenderSettings:
    f = Fields(source, "render", raw if raw is not None else {})
    f.unknown(set(RenderSettings.__dataclass_fields__))
    d = RenderSettings()
    s = RenderSettings(
        note=f.get("note", int, d.note),
        velocity=f.get("velocity", int, d.velocity),
        duration=f.get("duration", float, d.duration),
        note_length=f.get("note_length", float, d.note_length),
        sample_rate=f.get("sample_rate", int, d.sample_rate),
        silence_threshold_db=f.get("silence_threshold_db", float, d.silence_threshold_db),
        notes=f.notes("notes"),
    )
    if not 0 <= s.note <= 127:
        f.fail("note", f"found {s.note}, expected a MIDI note in 0..127")
    if not 1 <= s.velocity <= 127:
        f.fail("velocity", f"found {s.velocity}, expected a MIDI velocity in 1..127")
    # Below a tenth of a second a render is shorter than one analysis window of the features.
    if not MIN_DURATION <= s.duration <= 60:
        f.fail("duration", f"found {s.duration:g}, expected seconds in [{MIN_DURATION:g}, 60]")
    if not 0 < s.note_length <= s.duration:
        f.fail("note_length", f"found {s.note_length:g}, expected seconds in (0, duration]")
    if not 8000 <= s.sample_rate <= 192000:
        f.fail("sample_rate", f"found {s.sample_rate}, expected Hz in 8000..192000")
    if s.silence_threshold_db >= 0:
        f.fail("silence_threshold_db", f"found {s.silence_threshold_db:g}, expected dBFS below 0")
    return s


def _parse_parameter(source: str, index: int, raw: Any) -> Parameter:
    where = f"parameters[{index}]"
    if isinstance(raw, Mapping) and isinstance(raw.get("name"), str):
        where += f" ({raw['name']})"
    f = Fields(source, where, raw)
    f.unknown(set(Parameter.__dataclass_fields__))
    name = f.get("name", str)
    kind = f.get("type", str, "continuous")
    if kind not in TYPES:
        f.fail("type", f"found {show(kind)}, expected one of {', '.join(TYPES)}")
    choices: tuple[str, ...] = ()
    step = 1.0
    if kind == "choice":
        raw_choices = f.get("choices", list, required_hint="the names of the choices")
        if len(raw_choices) < 2 or not all(isinstance(c, (str, int)) for c in raw_choices):
            f.fail("choices", f"found {show(raw_choices)}, expected a list of at least two "
                              "names")
        choices = tuple(str(c) for c in raw_choices)
        for key in ("min", "max", "scale", "step"):
            if key in f.data:
                f.fail(key, "not used by a choice parameter (its values are 0..K-1)")
        lo, hi, scale = 0.0, float(len(choices) - 1), "linear"
    else:
        if "choices" in f.data:
            f.fail("choices", f"only for type: choice (this parameter is {kind})")
        lo, hi = f.get("min", float), f.get("max", float)
        if lo >= hi:
            f.fail("min", f"found min={lo:g} and max={hi:g}, expected min < max")
        scale = f.get("scale", str, "linear")
        if scale not in SCALES:
            f.fail("scale", f"found {show(scale)}, expected 'linear' or 'log'")
        if scale == "log" and lo <= 0:
            f.fail("min", f"found {lo:g}, expected a number > 0 for a log-scale parameter")
        if kind == "steps":
            step = f.get("step", float, 1.0)
            if step <= 0 or step > hi - lo:
                f.fail("step", f"found {step:g}, expected a number in (0, max - min]")
        elif "step" in f.data:
            f.fail("step", "only for type: steps")
    default = f.get("default", float, lo)
    if not lo <= default <= hi:
        f.fail("default", f"found {default:g}, expected a value in [{lo:g}, {hi:g}]")
    distribution = parse_distribution(f, "distribution")
    if isinstance(distribution, Categorical):
        if kind != "choice":
            f.fail("distribution", "categorical is for type: choice parameters")
        if len(distribution.args["weights"]) != len(choices):
            f.fail("distribution", f"found {len(distribution.args['weights'])} weights, "
                                   f"expected {len(choices)} (one per choice)")
    return Parameter(
        name=name,
        synth_name=f.get("synth_name", str, name),
        min=lo,
        max=hi,
        scale=scale,
        default=default,
        distribution=distribution,
        unit=f.get("unit", str, ""),
        description=f.get("description", str, ""),
        type=kind,
        step=step,
        choices=choices,
    )


# ---------------------------------------------------------------- the spec


class _Columns:
    """Every parameter's ``denormalise`` and ``normalise`` at once, over a whole patch: the same
    operations, element by element, as ``Parameter``'s (tested equal to the last bit), in a tenth
    of the time: the search converts a patch per candidate (138 parameters for a DX7 voice), and
    a match converts every preset (432 of hexter's: 0.7 s one parameter at a time)."""

    def __init__(self, parameters: tuple[Parameter, ...]):
        self.names = [p.synth_name for p in parameters]
        self.lo = np.array([p.min for p in parameters], dtype=np.float64)
        self.hi = np.array([p.max for p in parameters], dtype=np.float64)
        self.step = np.array([p.step for p in parameters], dtype=np.float64)
        self.k = np.array([max(p.num_choices, 1) for p in parameters], dtype=np.float64)
        kinds = [(p.type, p.scale) for p in parameters]
        self.choice = np.array([t == "choice" for t, _ in kinds])
        self.log = np.array([t != "choice" and sc == "log" for t, sc in kinds])
        self.steps = np.array([t == "steps" for t, _ in kinds])
        self.log_terms = [(j, p.min, p.max / p.min) for j, p in enumerate(parameters)
                          if self.log[j]]

    def denormalise(self, u: np.ndarray) -> np.ndarray:
        u = np.clip(u, 0.0, 1.0)
        value = self.lo + u * (self.hi - self.lo)
        # One at a time: numpy's vectorised power differs from its scalar one in the last bit,
        # and a dataset's renders must not depend on how many patches were converted at once.
        for j, lo, ratio in self.log_terms:
            value[j] = lo * ratio ** u[j]  # Python floats and a numpy scalar, as there
        stepped = np.clip(self.lo + np.round((value - self.lo) / self.step) * self.step,
                          self.lo, self.hi)
        value = np.where(self.steps, stepped, value)
        return np.where(self.choice, self.lo + np.minimum(np.floor(u * self.k), self.k - 1),
                        value)

    def normalise(self, value: np.ndarray) -> np.ndarray:
        value = np.clip(value, self.lo, self.hi)
        u = (value - self.lo) / (self.hi - self.lo)
        for j, lo, ratio in self.log_terms:  # one at a time, as in ``denormalise``
            u[j] = np.log(value[j] / lo) / math.log(ratio)
        u = np.where(self.choice, (np.round(value - self.lo) + 0.5) / self.k, u)
        return np.clip(u, 0.0, 1.0)


@dataclass(frozen=True)
class Spec:
    """A synth, its render settings and its parameters, in the order the network sees them."""

    name: str
    adapter: str
    parameters: tuple[Parameter, ...]
    render: RenderSettings = field(default_factory=RenderSettings)
    options: dict = field(default_factory=dict)
    description: str = ""
    source: str = "<spec>"
    # True only for a spec file the user named or a spec a plugin ships. A spec read back from a
    # checkpoint or a dataset manifest is untrusted: it may describe a synth but never choose a
    # file to load (see ``SynthAdapter.trusted_path``).
    trusted: bool = field(default=False, compare=False)
    # How many patches ``spec check`` tries each parameter in. Where parameters matter only in
    # some patches (a DX7 operator's release only if it sounds after note-off), more are needed.
    check_patches: int = 3

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def __len__(self) -> int:
        return len(self.parameters)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` normalised patches, shape (n, num_params), from each parameter's distribution."""
        # Steps and choices are snapped to what the synth will play, so that a dataset's
        # parameters are exactly the values its audio was rendered with.
        columns = [p.snap(np.clip(p.distribution.sample(rng, n), 0.0, 1.0))
                   for p in self.parameters]
        return np.stack(columns, axis=1).astype(np.float32)

    def defaults(self) -> np.ndarray:
        """The default patch, normalised."""
        return np.array([p.normalise(p.default) for p in self.parameters], dtype=np.float32)

    def to_synth(self, normalised) -> dict[str, float]:
        """A normalised patch -> ``{synth_name: value in synth units}`` (what adapters get)."""
        u = np.asarray(normalised, dtype=np.float64).reshape(-1)
        if len(u) != len(self.parameters):
            raise SoundmatchError(
                f"{self.source}: a patch has {len(u)} values, expected {len(self.parameters)}"
            )
        return dict(zip(self._columns.names, self._columns.denormalise(u).tolist(), strict=True))

    @cached_property
    def _columns(self) -> _Columns:
        return _Columns(self.parameters)

    def from_synth(self, patch: Mapping[str, float]) -> np.ndarray:
        """``{synth_name: value}`` -> normalised patch; missing parameters take their default."""
        values = np.array([patch.get(p.synth_name, p.default) for p in self.parameters],
                          dtype=np.float64)
        return self._columns.normalise(values).astype(np.float32)

    def to_dict(self) -> dict:
        out = {
            "name": self.name,
            "description": self.description,
            "synth": {"adapter": self.adapter, "options": dict(self.options)},
            "render": self.render.to_dict(),
            "parameters": [p.to_dict() for p in self.parameters],
        }
        if self.check_patches != DEFAULT_CHECK_PATCHES:
            out["check"] = {"patches": self.check_patches}
        return out

    def fingerprint(self) -> str:
        """A short hash of what a patch of this spec means: synth, render settings, parameters
        and their ranges. Sampling distributions, defaults and descriptions are left out: a model
        may be scored on data sampled differently from the same synth."""
        data = self.to_dict()
        data.pop("name")
        data.pop("description")
        data.pop("check", None)
        for p in data["parameters"]:
            for key in ("distribution", "default", "description"):
                p.pop(key, None)
        text = json.dumps(data, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def save(self, path: str | Path) -> None:
        """Write the spec as YAML, whole or not at all."""
        write_text_atomic(path, yaml.safe_dump(self.to_dict(), sort_keys=False))


def spec_from_dict(data: Any, source: str = "<spec>", trusted: bool = False) -> Spec:
    """Validate a spec given as plain data (e.g. stored in a dataset manifest or a checkpoint).
    ``trusted`` only where the data is a file the user chose (see ``Spec.trusted``)."""
    f = Fields(source, "", data)
    f.unknown({"name", "description", "synth", "render", "parameters", "check"})
    check = Fields(source, "check", f.get("check", dict, {}))
    check.unknown({"patches"})
    check_patches = check.get("patches", int, DEFAULT_CHECK_PATCHES)
    if check_patches < 1:
        check.fail("patches", f"found {check_patches}, expected at least 1")
    synth = Fields(source, "synth", f.get("synth", dict, required_hint="with an adapter name"))
    synth.unknown({"adapter", "options"})
    adapter = synth.get("adapter", str)
    options = synth.get("options", dict, {}) or {}
    raw_params = f.get("parameters", list)
    if not raw_params:
        f.fail("parameters", "found an empty list, expected at least one parameter")
    parameters = tuple(_parse_parameter(source, i, p) for i, p in enumerate(raw_params))
    seen: dict[str, int] = {}
    for i, p in enumerate(parameters):
        if p.name in seen:
            raise SoundmatchError(
                f"{source}: parameters[{i}].name: found duplicate name '{p.name}' "
                f"(also parameters[{seen[p.name]}]), expected unique names"
            )
        seen[p.name] = i
    return Spec(
        name=f.get("name", str, Path(source).stem),
        adapter=adapter,
        parameters=parameters,
        render=_parse_render(source, f.data.get("render")),
        options=dict(options),
        description=f.get("description", str, ""),
        source=source,
        trusted=trusted,
        check_patches=check_patches,
    )


def load_spec(path: str | Path) -> Spec:
    """Load and validate a spec file; any problem is a ``SoundmatchError`` naming file and field."""
    path = Path(path)
    text = read_bounded(path, MAX_SPEC_BYTES, "spec").decode("utf-8", errors="replace")
    try:
        data = safe_load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc) or "invalid YAML"
        raise SoundmatchError(f"{path}: not valid YAML{where} ({problem})") from None
    return spec_from_dict(data, source=str(path), trusted=True)
