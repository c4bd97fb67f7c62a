"""The models that ship with soundmatch, by name (``--checkpoint NAME``), like timm's pretrained
tags: the name is what users type, the file lives in ``soundmatch/pretrained/``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

# The models that ship with soundmatch, by name (``--checkpoint NAME``): their file and the spec
# they were trained on. The first is the default; ``Matcher.for_synth`` takes the first for a spec.
PRETRAINED = {
    # real sounds: taught by the search, with a memory of 569 (examples/taught/teach.sh)
    "builtin-rich-taught": ("builtin-rich-taught-ast-tiny.pt", "builtin-rich"),
    # real sounds, from renders alone (examples/make_default_model.sh)
    "builtin-rich": ("builtin-rich-ast-tiny.pt", "builtin-rich"),
    # the paper's patch (docs/results.md)
    "builtin-16": ("builtin-ast-tiny.pt", "builtin-16"),
}


def pretrained_checkpoint(name: str) -> Path:
    return Path(str(resources.files("soundmatch") / "pretrained" / PRETRAINED[name][0]))


def shipped_for(spec_name: str) -> str | None:
    """The name of the first shipped model trained on ``spec_name``, if any."""
    return next((name for name, (_, spec) in PRETRAINED.items() if spec == spec_name), None)


def default_checkpoint() -> Path:
    """The small AST that ships with soundmatch for matching real sounds."""
    return pretrained_checkpoint(next(iter(PRETRAINED)))


def resolve_checkpoint(name_or_path: str | Path | None) -> Path:
    """A shipped model's name, or a checkpoint file; None: the default model."""
    if name_or_path is None:
        return default_checkpoint()
    if str(name_or_path) in PRETRAINED and not Path(name_or_path).exists():
        return pretrained_checkpoint(str(name_or_path))
    return Path(name_or_path)
