"""What a synth adapter is: the only code that talks to a synth.

An adapter receives patches as ``{synth_name: value in synth units}`` (``Spec.to_synth`` makes
them) and returns mono float32 audio of the spec's duration for one note. This module is the whole
adapter contract: the base class, what a render must be (checked on every render), when a value
"holds", and where the user points an adapter at its synth's file. ``docs/plugins.md`` documents
every public member; ``soundmatch.testing.check_adapter`` tests an adapter against it.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

from .errors import SoundmatchError
from .fields import safe_load_yaml
from .fileio import read_bounded
from .spec import Parameter, Spec

# Where the user points an adapter at its synth's file, a VST3 binary say (``--synth-path`` sets
# it, so that worker processes see it too). "Plugin" in soundmatch means a package that registers
# adapters, specs or backbones; the synth's own file is the "synth path".
SYNTH_PATH_ENV = "SOUNDMATCH_SYNTH_PATH"
# Files the user names for spec options (``--synth-file KEY=PATH``): the only way a spec read from
# a checkpoint or dataset gets a file opened (see ``option_path``).
SYNTH_FILES_ENV = "SOUNDMATCH_SYNTH_FILES"
# A synth may store a value it was given quantised: within this fraction of the parameter's range
# the value "holds".
VALUE_TOLERANCE = 0.01
# Mean |log-mel difference| below which moving a parameter across its range counts as inaudible
# (the weakest builtin parameter gives about 0.2).
AUDIBLE_THRESHOLD = 0.05


def holds(p: Parameter, patch: Mapping[str, float], read: Mapping[str, float]) -> bool:
    """Whether the synth's value ``read`` of ``p`` is the value ``patch`` set, within what a
    synth's quantisation explains."""
    value = read.get(p.synth_name)
    tolerance = VALUE_TOLERANCE * (p.max - p.min)
    return value is not None and abs(value - patch[p.synth_name]) <= tolerance


class NonFiniteRender(SoundmatchError):
    """A render with NaN or infinite samples: the render job drops that patch like a silent one."""


def user_files() -> dict[str, Path]:
    """The files the user named for spec options (``--synth-file KEY=PATH``, or
    ``$SOUNDMATCH_SYNTH_FILES`` as ``KEY=PATH`` pairs separated by ``os.pathsep``)."""
    named: dict[str, Path] = {}
    for item in filter(None, os.environ.get(SYNTH_FILES_ENV, "").split(os.pathsep)):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value:
            raise SoundmatchError(f"${SYNTH_FILES_ENV}: found {item!r}, expected KEY=PATH pairs "
                                  f"separated by {os.pathsep!r}")
        named[key.strip()] = Path(os.path.expanduser(value))
    return named


def option_path(spec: Spec, key: str, how: str = "") -> Path | None:
    """The file an adapter opens for ``synth.options[key]`` (a base voice, a plugin state, a
    plugin binary), or None if there is none.

    The user's word comes first (``--synth-file KEY=PATH``). A spec the user named, or one a plugin
    ships, may name the file itself (relative to the spec file). A spec read back from a
    checkpoint or a dataset (``spec.trusted`` false) is someone else's word: it may describe a
    synth but never choose a file to read or code to load, so naming one is refused in one line
    that says how to pass it (``--synth-file KEY=PATH``, or ``how`` where the adapter has another
    way). An adapter opens such files only through this function, and reads them with
    ``read_bounded``."""
    named = user_files().get(key)
    if named is not None:
        return named
    value = spec.options.get(key)
    if not value:
        return None
    if not spec.trusted:
        raise SoundmatchError(
            f"{spec.source}: synth.options.{key}: names {str(value)[:80]!r}, but a checkpoint or "
            f"dataset may not choose a file to open; pass {how + ' or ' if how else ''}"
            f"--synth-file {key}=PATH (or set ${SYNTH_FILES_ENV}) to use a file you trust")
    path = Path(os.path.expanduser(str(value)))
    if not path.is_absolute() and Path(spec.source).exists():
        path = Path(spec.source).parent / path
    return path


def synth_path_override() -> Path | None:
    """The synth file the user named (``--synth-path`` or ``$SOUNDMATCH_SYNTH_PATH``), which
    overrides any spec; None if none."""
    value = os.environ.get(SYNTH_PATH_ENV)
    return Path(value) if value else None


class SynthAdapter(ABC):
    """Base class for synth adapters, registered through the ``register_adapters`` hook.

    Subclasses set ``default_spec`` (a registered spec name used by ``--synth NAME``) and implement
    ``set_patch``, ``get_patch``, ``render`` and ``save_preset``. One instance drives one synth
    instance; the render job builds one per worker process.
    """

    default_spec: ClassVar[str | None] = None
    # The registered spec ``match --synth NAME`` searches when no model is given (default:
    # ``default_spec``): the whole patch, where ``default_spec`` is what a model can learn.
    search_spec: ClassVar[str | None] = None
    # True if ``render`` plays fractional MIDI notes (a match at the input's pitch to the cent);
    # otherwise ``render_patch`` rounds the note to the nearest semitone first.
    fractional_notes: ClassVar[bool] = False
    # True if instances may render on threads other than the main one (one instance per
    # thread): ``match --refine`` then renders its candidates on all cores. Plugins hosted by
    # pedalboard must render on the main thread, so the default is False.
    thread_safe: ClassVar[bool] = False
    # True if ``render`` takes a keyword ``samples`` and then returns only the first ``samples``
    # of that note, the same bits as the whole render's, in less time: the search renders its
    # candidates only as long as the input sounds. Otherwise the whole note is rendered and cut.
    renders_prefix: ClassVar[bool] = False
    # True if ``render_patches`` renders several patches together in less time than one by one
    # (the built-in synth runs voices side by side in SIMD lanes): the search then hands each
    # of its threads that thread's candidates at once.
    renders_together: ClassVar[bool] = False
    # With ``renders_together``: how many patches ``render_patches`` renders side by side, where
    # fewer cost about as much (the built-in synth: four voices, one per SIMD lane). The search
    # sizes CMA-ES's generations in multiples of it, the same on any machine.
    lanes: ClassVar[int] = 1
    preset_suffix: ClassVar[str] = ".preset"  # the file type ``save_preset`` writes
    # Further file types ``load_presets`` reads (``spec fit --presets`` looks for these too).
    preset_suffixes: ClassVar[tuple[str, ...]] = ()
    # The ``synth.options`` keys that name a file this adapter opens (through ``option_path``):
    # ``soundmatch.testing`` checks that a checkpoint's spec naming one is refused.
    file_options: ClassVar[tuple[str, ...]] = ()
    # The most bytes a preset file may hold before ``load_presets`` refuses it unread.
    max_preset_bytes: ClassVar[int] = 1 << 20

    def __init__(self, spec: Spec):
        self.spec = spec

    @abstractmethod
    def set_patch(self, patch: Mapping[str, float]) -> None:
        """Apply parameter values (synth names, synth units) on top of the base preset."""

    @abstractmethod
    def get_patch(self) -> dict[str, float]:
        """The values the synth holds now, read back from the synth (not from a cache)."""

    @abstractmethod
    def render(self, note: float, velocity: int) -> np.ndarray:
        """Render one note of the current patch from silence: note-on at 0, note-off after the
        spec's ``note_length``, ``duration`` seconds in all, mono float32 at the spec's rate.
        No tail of an earlier render may leak into this one. soundmatch calls it through
        ``render_note``, which always passes both (the spec's defaults where the caller gave
        none) and checks what it returns."""

    @abstractmethod
    def save_preset(self, path: str | Path) -> Path:
        """Write the current patch as a preset the synth can open; returns the path written."""

    def parameter_names(self) -> set[str]:
        """The synth's own parameter names; a spec fits this synth if it uses only these."""
        return set(self.get_patch())

    def load_preset(self, path: str | Path) -> dict[str, float]:
        """The values a preset file sets (synth names and units), for ``spec fit``. The default
        reads what ``save_preset`` wrote if that is a YAML mapping of ``parameters``."""
        data = safe_load_yaml(read_bounded(path, self.max_preset_bytes, "preset").decode(
            "utf-8", errors="replace"))
        if not isinstance(data, dict) or not isinstance(data.get("parameters"), dict):
            raise SoundmatchError(f"{path}: not a preset (expected a 'parameters' mapping)")
        return {str(k): float(v) for k, v in data["parameters"].items()}

    def load_presets(self, path: str | Path) -> list[dict[str, float]]:
        """Every voice a preset file holds (a bank holds several), for ``spec fit``. The
        default: the one ``load_preset`` reads."""
        return [self.load_preset(path)]

    def default_presets(self) -> list[Path]:
        """Preset files or folders installed on this machine that ``match`` starts from when the
        user names none (``--presets``): the synth's factory banks, say. Default: none."""
        return []

    def default_memory(self) -> Path | None:
        """A memory of real sounds (``soundmatch export --memory``, no checkpoint) that a match
        with no model recalls starting patches from: the patches the search found for sounds
        like the input. Used where it was made for the spec being matched. Default: none."""
        return None

    def transposed(self, patch: Mapping[str, float], semitones: int) -> dict[str, float] | None:
        """``patch`` (the synth's whole patch, as ``get_patch`` gives it) changed to sound
        ``semitones`` higher from the same key, or None where the synth cannot (the default;
        or beyond its range). A match played an octave from the input's key is written this way,
        so that its preset plays the input's pitch from the input's key."""
        return None

    def tuned(self, patch: Mapping[str, float], cents: float) -> dict[str, float] | None:
        """``patch`` (the whole patch, as ``get_patch`` gives it) changed to sound ``cents``
        (-50..50) higher from the same key, or None where the synth cannot (the default). A synth
        that plays only whole notes (not ``fractional_notes``) matches an input tuned between
        two of them from starts tuned this way, so that the match, and its preset, play the
        input's pitch."""
        return None

    def render_note(self, note: float | None = None, velocity: int | None = None,
                    samples: int | None = None) -> np.ndarray:
        """``render`` with the spec's note and velocity where none is given, the note rounded
        unless ``fractional_notes``, and the result checked against the contract. ``samples``:
        only the first that many (rendered only that long where ``renders_prefix``)."""
        settings = self.spec.render
        note = settings.note if note is None else note
        velocity = settings.velocity if velocity is None else velocity
        if not self.fractional_notes:
            note = round(note)
        if samples is None or samples >= settings.num_samples:
            return self._checked(self.render(note, int(velocity)))
        if self.renders_prefix:
            return self._checked(self.render(note, int(velocity), samples=samples), samples)
        return self._checked(self.render(note, int(velocity)))[:samples]

    def render_patch(
        self, patch: Mapping[str, float], note: float | None = None, velocity: int | None = None,
        samples: int | None = None,
    ) -> np.ndarray:
        """Set ``patch`` and render one note of it (``render_note``)."""
        self.set_patch(patch)
        return self.render_note(note, velocity, samples)

    def render_patches(
        self, patches: Sequence[Mapping[str, float]], notes: Sequence[float],
        velocity: int | None = None, samples: int | None = None,
    ) -> list[np.ndarray]:
        """``render_patch`` of each patch at its note, in turn; the last patch stays set. An
        adapter that renders several at once in less time overrides this (and sets
        ``renders_together``), returning the same audio."""
        return [self.render_patch(p, note, velocity, samples)
                for p, note in zip(patches, notes, strict=True)]

    def _checked(self, audio, n: int | None = None) -> np.ndarray:
        """What ``render`` returned, if it keeps the contract; else one line naming the adapter
        (a stereo or wrong-length render would otherwise fail far away, in numpy)."""
        name = type(self).__name__
        n = self.spec.render.num_samples if n is None else n
        if not isinstance(audio, np.ndarray):
            raise SoundmatchError(f"{name}.render returned {type(audio).__name__}, expected a "
                                  "numpy array")
        if audio.shape != (n,):
            raise SoundmatchError(f"{name}.render returned shape {audio.shape}, expected mono "
                                  f"({n},): the spec's duration at its sample rate, or the "
                                  "samples asked")
        if audio.dtype != np.float32:
            raise SoundmatchError(f"{name}.render returned {audio.dtype} samples, expected "
                                  "float32")
        if not np.isfinite(audio).all():
            raise NonFiniteRender(f"{name}.render returned NaN or infinite samples")
        return audio

    def loaded_file(self) -> Path | None:
        """The native file (plugin binary) this instance loaded, if any: the CLI names it, so a
        user always sees which code runs."""
        return None

    def notes(self) -> list[str]:
        """Things a user should know about how this adapter drives its synth (e.g. a workaround
        it had to use); ``spec check`` prints them."""
        return []

    def close(self) -> None:  # noqa: B027 - optional: most adapters hold nothing to release
        """Release the synth (plugin instance, threads). Called once per instance."""
