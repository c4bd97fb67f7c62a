"""Parameter specs: which synth, how to render a note, and each parameter's range and distribution.

A spec is YAML (loaded with ``safe_load``). Every value that crosses between the synth and the
network goes through here: the network sees *normalised* parameters in [0, 1], ordered as the spec
lists them; only ``Parameter.normalise``/``denormalise`` convert to and from the synth's own units.
Sampling distributions live on the normalised scale too, so ``uniform`` on a log-scale parameter is
log-uniform in the synth's units.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .errors import SoundmatchError

SCALES = ("linear", "log")


class _Fields:
    """Reads fields out of a YAML mapping; every error names the file and the field."""

    def __init__(self, source: str, where: str, data: Any):
        self.source, self.where = source, where
        if not isinstance(data, Mapping):
            self.fail("", f"found {_show(data)}, expected a mapping")
        self.data = data

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def fail(self, key: str, message: str):
        field_name = self.path(key) if key else (self.where or "top level")
        raise SoundmatchError(f"{self.source}: {field_name}: {message}")

    def get(self, key: str, kind: type | tuple, default: Any = ..., required_hint: str = ""):
        if key not in self.data:
            if default is ...:
                hint = f" ({required_hint})" if required_hint else ""
                self.fail(key, f"missing; expected {_kind_name(kind)}{hint}")
            return default
        value = self.data[key]
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = float(value)
            if not math.isfinite(value):
                self.fail(key, f"found {value}, expected a finite number")
            return value
        if kind is int and isinstance(value, bool):
            self.fail(key, f"found {_show(value)}, expected an integer")
        if not isinstance(value, kind):
            self.fail(key, f"found {_show(value)}, expected {_kind_name(kind)}")
        return value

    def unknown(self, allowed: set[str]) -> None:
        extra = sorted(set(self.data) - allowed)
        if extra:
            self.fail(extra[0], f"unknown field; expected one of {', '.join(sorted(allowed))}")


def _kind_name(kind) -> str:
    names = {float: "a number", int: "an integer", str: "a string", dict: "a mapping",
             list: "a list", bool: "true or false"}
    if isinstance(kind, tuple):
        return " or ".join(names.get(k, k.__name__) for k in kind)
    return names.get(kind, kind.__name__)


_SHOW = reprlib.Repr()
_SHOW.maxstring = _SHOW.maxother = 40
_SHOW.maxlevel, _SHOW.maxlist, _SHOW.maxdict = 2, 4, 4


def _show(value: Any) -> str:
    # Bounded work whatever the value: a YAML alias bomb is a small document holding a huge
    # (shared) structure, and printing it whole would eat the memory.
    text = _SHOW.repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


MAX_YAML_ALIASES = 100


class _AliasLimitedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses documents with more than ``MAX_YAML_ALIASES`` aliases:
    no spec or preset needs that many, and an alias bomb needs far more."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.events.AliasEvent):
            self._aliases = getattr(self, "_aliases", 0) + 1
            if self._aliases > MAX_YAML_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_YAML_ALIASES} aliases (*name); "
                                     "expected a plain spec")
        return super().compose_node(parent, index)


def safe_load_yaml(text: str) -> Any:
    """``yaml.safe_load`` with a limit on aliases (see ``_AliasLimitedLoader``)."""
    return yaml.load(text, Loader=_AliasLimitedLoader)  # a SafeLoader: no Python tags


# ---------------------------------------------------------------- distributions (normalised scale)


@dataclass(frozen=True)
class Distribution:
    """How a parameter is sampled, on its normalised [0, 1] scale."""

    type: str
    args: dict = field(default_factory=dict)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        a = self.args
        if self.type == "uniform":
            return rng.random(n)
        if self.type == "beta":
            return rng.beta(a["a"], a["b"], n)
        if self.type == "truncnorm":
            return _truncnorm(rng, a["mean"], a["std"], n)
        if self.type == "empirical" and "values" in a:
            values = np.asarray(a["values"], dtype=np.float64)
            picked = values[rng.integers(0, len(values), n)]
            jitter = a.get("jitter", 0.0)
            return np.clip(picked + rng.normal(0.0, jitter, n), 0.0, 1.0) if jitter else picked
        if self.type == "empirical":
            edges = np.asarray(a["edges"], dtype=np.float64)
            weights = np.asarray(a["weights"], dtype=np.float64)
            bins = rng.choice(len(weights), size=n, p=weights / weights.sum())
            return edges[bins] + rng.random(n) * (edges[bins + 1] - edges[bins])
        raise AssertionError(self.type)

    def to_yaml(self) -> str | dict:
        return self.type if not self.args else {"type": self.type, **self.args}


def _truncnorm(rng: np.random.Generator, mean: float, std: float, n: int) -> np.ndarray:
    # Rejection sampling: the mean is validated to lie in [0, 1], so at least ~16% is accepted.
    out = np.empty(n)
    filled = 0
    while filled < n:
        draw = rng.normal(mean, std, 2 * (n - filled) + 8)
        keep = draw[(draw >= 0.0) & (draw <= 1.0)][: n - filled]
        out[filled : filled + len(keep)] = keep
        filled += len(keep)
    return out


DISTRIBUTIONS = {
    "uniform": "uniform (no arguments)",
    "truncnorm": "truncnorm with mean in [0, 1] and std > 0",
    "beta": "beta with a > 0 and b > 0",
    "empirical": "empirical with values: [...] (optional jitter), or edges: [...] and "
                 "weights: [...]",
}


def _parse_distribution(f: _Fields, key: str) -> Distribution:
    raw = f.data.get(key, "uniform")
    expected = "one of " + ", ".join(DISTRIBUTIONS)
    if isinstance(raw, str):
        if raw != "uniform":
            hint = DISTRIBUTIONS.get(raw)
            f.fail(key, f"found {_show(raw)}, expected {expected}"
                        + (f" (as a mapping: {hint})" if hint else ""))
        return Distribution("uniform")
    d = _Fields(f.source, f.path(key), raw)
    kind = d.get("type", str)
    if kind not in DISTRIBUTIONS:
        d.fail("type", f"found {_show(kind)}, expected {expected}")
    if kind == "uniform":
        d.unknown({"type"})
        return Distribution("uniform")
    if kind == "beta":
        d.unknown({"type", "a", "b"})
        args = {"a": d.get("a", float), "b": d.get("b", float)}
        for k, v in args.items():
            if v <= 0:
                d.fail(k, f"found {v}, expected a number > 0")
        return Distribution("beta", args)
    if kind == "truncnorm":
        d.unknown({"type", "mean", "std"})
        mean, std = d.get("mean", float), d.get("std", float)
        if not 0.0 <= mean <= 1.0:
            d.fail("mean", f"found {mean}, expected a number in [0, 1] (the normalised scale)")
        if std <= 0:
            d.fail("std", f"found {std}, expected a number > 0")
        return Distribution("truncnorm", {"mean": mean, "std": std})
    # empirical
    d.unknown({"type", "values", "jitter", "edges", "weights"})
    if "values" in d.data:
        values = _number_list(d, "values", min_len=1)
        jitter = d.get("jitter", float, 0.0)
        if jitter < 0:
            d.fail("jitter", f"found {jitter}, expected a number >= 0")
        args: dict = {"values": values}
        if jitter:
            args["jitter"] = jitter
        return Distribution("empirical", args)
    if "edges" not in d.data:
        d.fail("values", "missing; expected a list of values in [0, 1], or edges and weights")
    edges = _number_list(d, "edges", min_len=2)
    weights = _number_list(d, "weights", min_len=1, lo=0.0, hi=math.inf)
    if len(weights) != len(edges) - 1:
        d.fail("weights", f"found {len(weights)} weights, expected {len(edges) - 1} (one per bin)")
    if any(b <= a for a, b in itertools.pairwise(edges)):
        d.fail("edges", "expected strictly increasing values")
    if sum(weights) <= 0:
        d.fail("weights", "expected at least one weight > 0")
    return Distribution("empirical", {"edges": edges, "weights": weights})


def _number_list(d: _Fields, key: str, min_len: int, lo: float = 0.0, hi: float = 1.0) -> list:
    values = d.get(key, list)
    if len(values) < min_len:
        d.fail(key, f"found {len(values)} entries, expected at least {min_len}")
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
            d.fail(f"{key}[{i}]", f"found {_show(v)}, expected a number in [{lo}, {hi}]")
    return [float(v) for v in values]


# ---------------------------------------------------------------- parameters and render settings


@dataclass(frozen=True)
class Parameter:
    """One synth parameter: its range in the synth's units and how it is sampled."""

    name: str
    synth_name: str
    min: float
    max: float
    scale: str = "linear"
    default: float = 0.0
    distribution: Distribution = field(default_factory=lambda: Distribution("uniform"))
    unit: str = ""
    description: str = ""

    def normalise(self, value):
        """Synth units -> [0, 1] (clipped)."""
        value = np.clip(np.asarray(value, dtype=np.float64), self.min, self.max)
        if self.scale == "log":
            u = np.log(value / self.min) / math.log(self.max / self.min)
        else:
            u = (value - self.min) / (self.max - self.min)
        return np.clip(u, 0.0, 1.0)

    def denormalise(self, u):
        """[0, 1] -> synth units (clipped)."""
        u = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)
        if self.scale == "log":
            return self.min * (self.max / self.min) ** u
        return self.min + u * (self.max - self.min)

    def to_dict(self) -> dict:
        out = {"name": self.name, "synth_name": self.synth_name, "min": self.min,
               "max": self.max, "scale": self.scale, "default": self.default,
               "distribution": self.distribution.to_yaml()}
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
    # inclusive range, and the model is told the note (see ``SoundMatcher``). None: always ``note``.
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


def _parse_notes(f: _Fields) -> tuple[int, int] | None:
    raw = f.data.get("notes") if isinstance(f.data, Mapping) else None
    if raw is None:
        return None
    if (not isinstance(raw, (list, tuple)) or len(raw) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in raw)
            or not 0 <= raw[0] <= raw[1] <= 127):
        f.fail("notes", f"found {str(raw)[:40]}, expected [lowest, highest] MIDI notes in 0..127")
    return int(raw[0]), int(raw[1])


def _parse_render(source: str, raw: Any) -> RenderSettings:
    f = _Fields(source, "render", raw if raw is not None else {})
    f.unknown(set(RenderSettings.__dataclass_fields__))
    d = RenderSettings()
    s = RenderSettings(
        note=f.get("note", int, d.note),
        velocity=f.get("velocity", int, d.velocity),
        duration=f.get("duration", float, d.duration),
        note_length=f.get("note_length", float, d.note_length),
        sample_rate=f.get("sample_rate", int, d.sample_rate),
        silence_threshold_db=f.get("silence_threshold_db", float, d.silence_threshold_db),
        notes=_parse_notes(f),
    )
    if not 0 <= s.note <= 127:
        f.fail("note", f"found {s.note}, expected a MIDI note in 0..127")
    if not 1 <= s.velocity <= 127:
        f.fail("velocity", f"found {s.velocity}, expected a MIDI velocity in 1..127")
    if not 0 < s.duration <= 60:
        f.fail("duration", f"found {s.duration:g}, expected seconds in (0, 60]")
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
    f = _Fields(source, where, raw)
    f.unknown(set(Parameter.__dataclass_fields__))
    name = f.get("name", str)
    lo, hi = f.get("min", float), f.get("max", float)
    if lo >= hi:
        f.fail("min", f"found min={lo:g} and max={hi:g}, expected min < max")
    scale = f.get("scale", str, "linear")
    if scale not in SCALES:
        f.fail("scale", f"found {_show(scale)}, expected 'linear' or 'log'")
    if scale == "log" and lo <= 0:
        f.fail("min", f"found {lo:g}, expected a number > 0 for a log-scale parameter")
    default = f.get("default", float, lo)
    if not lo <= default <= hi:
        f.fail("default", f"found {default:g}, expected a value in [{lo:g}, {hi:g}]")
    return Parameter(
        name=name,
        synth_name=f.get("synth_name", str, name),
        min=lo,
        max=hi,
        scale=scale,
        default=default,
        distribution=_parse_distribution(f, "distribution"),
        unit=f.get("unit", str, ""),
        description=f.get("description", str, ""),
    )


# ---------------------------------------------------------------- the spec


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

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def __len__(self) -> int:
        return len(self.parameters)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` normalised patches, shape (n, num_params), from each parameter's distribution."""
        columns = [p.distribution.sample(rng, n) for p in self.parameters]
        return np.clip(np.stack(columns, axis=1), 0.0, 1.0).astype(np.float32)

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
        pairs = zip(self.parameters, u, strict=True)
        return {p.synth_name: float(p.denormalise(x)) for p, x in pairs}

    def from_synth(self, patch: Mapping[str, float]) -> np.ndarray:
        """``{synth_name: value}`` -> normalised patch; missing parameters take their default."""
        return np.array(
            [p.normalise(patch.get(p.synth_name, p.default)) for p in self.parameters],
            dtype=np.float32,
        )

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "synth": {"adapter": self.adapter, "options": dict(self.options)},
            "render": self.render.to_dict(),
            "parameters": [p.to_dict() for p in self.parameters],
        }

    def fingerprint(self) -> str:
        """A short hash of what a patch of this spec means: synth, render settings, parameters
        and their ranges. Sampling distributions, defaults and descriptions are left out: a model
        may be scored on data sampled differently from the same synth."""
        data = self.to_dict()
        data.pop("name")
        data.pop("description")
        for p in data["parameters"]:
            for key in ("distribution", "default", "description"):
                p.pop(key, None)
        text = json.dumps(data, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def save(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


def spec_from_dict(data: Any, source: str = "<spec>", trusted: bool = False) -> Spec:
    """Validate a spec given as plain data (e.g. stored in a dataset manifest or a checkpoint).
    ``trusted`` only where the data is a file the user chose (see ``Spec.trusted``)."""
    f = _Fields(source, "", data)
    f.unknown({"name", "description", "synth", "render", "parameters"})
    synth = _Fields(source, "synth", f.get("synth", dict, required_hint="with an adapter name"))
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
    )


def load_spec(path: str | Path) -> Spec:
    """Load and validate a spec file; any problem is a ``SoundmatchError`` naming file and field."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SoundmatchError(f"{path}: cannot read spec ({exc.strerror or exc})") from None
    try:
        data = safe_load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc) or "invalid YAML"
        raise SoundmatchError(f"{path}: not valid YAML{where} ({problem})") from None
    return spec_from_dict(data, source=str(path), trusted=True)
