"""Reading YAML that came from a user or from elsewhere: ``safe_load_yaml`` (no Python tags, a
limit on aliases) and ``Fields``, which reads one mapping's fields so that every error is one line
naming the file and the field, what was found and what was expected. Every file soundmatch reads
is read through it: specs and their distributions, presets, dataset manifests and checkpoints."""

from __future__ import annotations

import math
import reprlib
from collections.abc import Mapping
from typing import Any

import yaml

from .errors import SoundmatchError


class Fields:
    """Reads fields out of a YAML mapping; every error names the file and the field."""

    def __init__(self, source: str, where: str, data: Any):
        self.source, self.where = source, where
        if not isinstance(data, Mapping):
            self.fail("", f"found {show(data)}, expected a mapping")
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
            self.fail(key, f"found {show(value)}, expected an integer")
        if not isinstance(value, kind):
            self.fail(key, f"found {show(value)}, expected {_kind_name(kind)}")
        return value

    def ranged(self, key: str, kind: type, lo: float | None = None, hi: float | None = None,
               default: Any = ...):
        """A number of ``kind`` in ``[lo, hi]`` (either bound may be open)."""
        value = self.get(key, kind, default)
        below, above = lo is not None and value < lo, hi is not None and value > hi
        if key in self.data and (below or above):
            span = (f"in {lo:g}..{hi:g}" if lo is not None and hi is not None
                    else f">= {lo:g}" if lo is not None else f"<= {hi:g}")
            self.fail(key, f"found {show(value)}, expected {_kind_name(kind)} {span}")
        return value

    def notes(self, key: str) -> tuple[int, int] | None:
        """An inclusive range of MIDI notes, ``[lowest, highest]``; None where absent or null."""
        raw = self.data.get(key)
        if raw is None:
            return None
        if (not isinstance(raw, (list, tuple)) or len(raw) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in raw)
                or not 0 <= raw[0] <= raw[1] <= 127):
            self.fail(key, f"found {show(raw)}, expected [lowest, highest] MIDI notes in 0..127")
        return int(raw[0]), int(raw[1])

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


def show(value: Any) -> str:
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
