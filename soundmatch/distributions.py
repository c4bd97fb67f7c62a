"""How a spec's parameters are sampled, on their normalised [0, 1] scale: ``uniform`` on a
log-scale parameter is log-uniform in the synth's units. Each kind is one ``Distribution``
subclass that parses itself from a spec (``parse_distribution``), samples, describes itself and,
where it can, fits itself to preset values (``spec fit``)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from .fields import Fields, show


@dataclass(frozen=True)
class Distribution:
    """How a parameter is sampled, on its normalised [0, 1] scale. Each kind is one subclass
    registered in ``DISTRIBUTIONS``: it parses itself from a spec, samples, describes itself and,
    if it can, fits itself to preset values. A new kind is one class."""

    type: str = "uniform"
    args: dict = field(default_factory=dict)
    hint: ClassVar[str] = ""  # what the spec must give, for error messages

    def __new__(cls, type: str = "uniform", args: dict | None = None):
        # Distribution("beta", {...}) builds the kind's class, so data read back from YAML and
        # code that names a kind get the same object.
        if cls is Distribution:
            cls = DISTRIBUTIONS[type]
        return super().__new__(cls)

    @classmethod
    def parse(cls, d: Fields) -> Distribution:
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> str:
        """A short form for tables (``spec show``)."""
        return self.type

    def to_yaml(self) -> str | dict:
        return self.type if not self.args else {"type": self.type, **self.args}


class Uniform(Distribution):
    hint = "uniform (no arguments)"

    @classmethod
    def parse(cls, d: Fields) -> Distribution:
        d.unknown({"type"})
        return cls("uniform")

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.random(n)


class Beta(Distribution):
    hint = "beta with a > 0 and b > 0"

    @classmethod
    def parse(cls, d: Fields) -> Distribution:
        d.unknown({"type", "a", "b"})
        args = {"a": d.get("a", float), "b": d.get("b", float)}
        for k, v in args.items():
            if v <= 0:
                d.fail(k, f"found {v}, expected a number > 0")
        return cls("beta", args)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.beta(self.args["a"], self.args["b"], n)

    def describe(self) -> str:
        return f"beta({self.args['a']:g}, {self.args['b']:g})"


class TruncNorm(Distribution):
    hint = "truncnorm with mean in [0, 1] and std > 0"

    @classmethod
    def parse(cls, d: Fields) -> Distribution:
        d.unknown({"type", "mean", "std"})
        mean, std = d.get("mean", float), d.get("std", float)
        if not 0.0 <= mean <= 1.0:
            d.fail("mean", f"found {mean}, expected a number in [0, 1] (the normalised scale)")
        if std <= 0:
            d.fail("std", f"found {std}, expected a number > 0")
        return cls("truncnorm", {"mean": mean, "std": std})

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        # Rejection sampling: the mean is validated to lie in [0, 1], so at least ~16% is
        # accepted.
        mean, std = self.args["mean"], self.args["std"]
        out = np.empty(n)
        filled = 0
        while filled < n:
            draw = rng.normal(mean, std, 2 * (n - filled) + 8)
            keep = draw[(draw >= 0.0) & (draw <= 1.0)][: n - filled]
            out[filled : filled + len(keep)] = keep
            filled += len(keep)
        return out

    def describe(self) -> str:
        return f"truncnorm({self.args['mean']:g}, {self.args['std']:g})"


class Empirical(Distribution):
    """The values a parameter takes in a set of presets (with a little jitter), or a histogram."""

    hint = "empirical with values: [...] (optional jitter), or edges: [...] and weights: [...]"

    @classmethod
    def parse(cls, d: Fields) -> Distribution:
        d.unknown({"type", "values", "jitter", "edges", "weights"})
        if "values" in d.data:
            values = number_list(d, "values", min_len=1)
            jitter = d.get("jitter", float, 0.0)
            if jitter < 0:
                d.fail("jitter", f"found {jitter}, expected a number >= 0")
            args: dict = {"values": values}
            if jitter:
                args["jitter"] = jitter
            return cls("empirical", args)
        if "edges" not in d.data:
            d.fail("values", "missing; expected a list of values in [0, 1], or edges and weights")
        edges = number_list(d, "edges", min_len=2)
        weights = number_list(d, "weights", min_len=1, lo=0.0, hi=math.inf)
        if len(weights) != len(edges) - 1:
            d.fail("weights", f"found {len(weights)} weights, expected {len(edges) - 1} (one per "
                              "bin)")
        if any(b <= a for a, b in itertools.pairwise(edges)):
            d.fail("edges", "expected strictly increasing values")
        if sum(weights) <= 0:
            d.fail("weights", "expected at least one weight > 0")
        return cls("empirical", {"edges": edges, "weights": weights})

    MIN_JITTER, MAX_JITTER = 0.005, 0.05

    @classmethod
    def fit(cls, values: np.ndarray, decimals: int = 4) -> Empirical:
        """A kernel density estimate: the values themselves, with Gaussian jitter of Silverman's
        bandwidth (kept between MIN_JITTER and MAX_JITTER)."""
        column = np.round(np.asarray(values, dtype=np.float64), decimals)
        spread = min(column.std(), (np.percentile(column, 75) - np.percentile(column, 25)) / 1.34)
        bandwidth = 0.9 * spread * len(column) ** -0.2 if spread > 0 else 0.0
        jitter = float(np.clip(bandwidth, cls.MIN_JITTER, cls.MAX_JITTER))
        return cls("empirical", {"values": column.tolist(), "jitter": round(jitter, 4)})

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        a = self.args
        if "values" in a:
            values = np.asarray(a["values"], dtype=np.float64)
            picked = values[rng.integers(0, len(values), n)]
            jitter = a.get("jitter", 0.0)
            return np.clip(picked + rng.normal(0.0, jitter, n), 0.0, 1.0) if jitter else picked
        edges = np.asarray(a["edges"], dtype=np.float64)
        weights = np.asarray(a["weights"], dtype=np.float64)
        bins = rng.choice(len(weights), size=n, p=weights / weights.sum())
        return edges[bins] + rng.random(n) * (edges[bins + 1] - edges[bins])

    def describe(self) -> str:
        a = self.args
        n = len(a["values"]) if "values" in a else len(a["weights"])
        return f"empirical({n} {'values' if 'values' in a else 'bins'})"


class Categorical(Distribution):
    """For a choice parameter: choice k with probability weights[k] (normalised), played at the
    centre of its [k/K, (k+1)/K) bin."""

    hint = "categorical with weights: [...] (one per choice)"

    @classmethod
    def parse(cls, d: Fields) -> Distribution:
        d.unknown({"type", "weights"})
        weights = number_list(d, "weights", min_len=2, lo=0.0, hi=math.inf)
        if sum(weights) <= 0:
            d.fail("weights", "expected at least one weight > 0")
        return cls("categorical", {"weights": weights})

    @classmethod
    def fit(cls, indices: np.ndarray, num_choices: int) -> Categorical:
        """The share of presets that pick each choice, with one pseudo-count each (so that no
        choice is never sampled)."""
        counts = np.bincount(np.asarray(indices, dtype=np.int64), minlength=num_choices) + 1.0
        return cls("categorical", {"weights": np.round(counts / counts.sum(), 4).tolist()})

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        weights = np.asarray(self.args["weights"], dtype=np.float64)
        picked = rng.choice(len(weights), size=n, p=weights / weights.sum())
        return (picked + 0.5) / len(weights)

    def describe(self) -> str:
        return f"categorical({len(self.args['weights'])})"


DISTRIBUTIONS: dict[str, type[Distribution]] = {
    "uniform": Uniform, "truncnorm": TruncNorm, "beta": Beta, "empirical": Empirical,
    "categorical": Categorical,
}


def parse_distribution(f: Fields, key: str) -> Distribution:
    raw = f.data.get(key, "uniform")
    expected = "one of " + ", ".join(DISTRIBUTIONS)
    if isinstance(raw, str):
        if raw != "uniform":
            kind = DISTRIBUTIONS.get(raw)
            f.fail(key, f"found {show(raw)}, expected {expected}"
                        + (f" (as a mapping: {kind.hint})" if kind else ""))
        return Uniform("uniform")
    d = Fields(f.source, f.path(key), raw)
    kind = d.get("type", str)
    if kind not in DISTRIBUTIONS:
        d.fail("type", f"found {show(kind)}, expected {expected}")
    return DISTRIBUTIONS[kind].parse(d)


def number_list(d: Fields, key: str, min_len: int, lo: float = 0.0, hi: float = 1.0) -> list:
    values = d.get(key, list)
    if len(values) < min_len:
        d.fail(key, f"found {len(values)} entries, expected at least {min_len}")
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
            d.fail(f"{key}[{i}]", f"found {show(v)}, expected a number in [{lo}, {hi}]")
    return [float(v) for v in values]
