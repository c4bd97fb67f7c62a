"""A synth's presets as data: the voices in the preset files and folders a user names, read
through the adapter's ``load_presets``. ``spec fit`` fits distributions to them; ``match`` plays
each at the input's pitch and grows its search from the closest."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from .adapter import SynthAdapter
from .errors import SoundmatchError, first_line
from .fileio import TMP_PREFIX

# What any adapter's presets may be besides its own types (``preset_suffix``, ``preset_suffixes``).
PRESET_SUFFIXES = (".yaml", ".yml", ".vstpreset", ".fxp", ".bin")


@dataclass(frozen=True)
class Preset:
    name: str                   # the file, and the voice's number in a bank
    values: dict[str, float]    # synth names and units, as ``load_presets`` read them


def preset_files(paths: Iterable[str | Path], suffixes: Iterable[str],
                 exclude: Path | None = None) -> list[Path]:
    """The preset files among ``paths`` (files, or folders searched recursively for
    ``suffixes``), in a stable order: regular files only (no links out of a folder, FIFOs or
    devices), never ``exclude`` (a command's own output, so that a second run into the presets
    folder does not read the first one's result) nor a half-written file of an interrupted
    run. A file named directly is taken whatever its suffix."""
    wanted = {s.lower() for s in suffixes}
    excluded = exclude.resolve() if exclude is not None else None
    found: dict[Path, None] = {}  # ordered, and a file named twice is read once
    for path in map(Path, paths):
        if not path.exists():
            raise SoundmatchError(f"{path}: no such preset file or folder")
        files = ([path] if not path.is_dir() else sorted(
            p for p in path.rglob("*") if p.suffix.lower() in wanted and p.is_file()
            and not p.is_symlink() and not p.name.startswith(TMP_PREFIX)))
        found.update((p, None) for p in files if p.resolve() != excluded)
    return list(found)


def readable_suffixes(adapter: SynthAdapter | type[SynthAdapter]) -> set[str]:
    """The preset file types looked for on behalf of ``adapter`` (an instance or its class)."""
    return {*PRESET_SUFFIXES, adapter.preset_suffix, *adapter.preset_suffixes}


def read_presets(adapter: SynthAdapter, paths: Iterable[str | Path],
                 exclude: Path | None = None) -> tuple[list[Preset], list[tuple[str, str]]]:
    """Every voice in the preset files among ``paths``, and (file, reason) for each file the
    adapter cannot read: a junk file is skipped and reported, never fatal."""
    presets, skipped = [], []
    for path in preset_files(paths, readable_suffixes(adapter), exclude):
        try:
            voices = adapter.load_presets(path)
        except (SoundmatchError, ValueError, TypeError, OSError, yaml.YAMLError) as exc:
            skipped.append((str(path), first_line(exc)))
            continue
        for i, values in enumerate(voices):
            presets.append(Preset(f"{path} #{i + 1}" if len(voices) > 1 else str(path),
                                  values))
    return presets, skipped
