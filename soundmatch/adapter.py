"""What a synth adapter is: the only code that talks to a synth.

An adapter receives patches as ``{synth_name: value in synth units}`` (``Spec.to_synth`` makes
them) and returns mono float32 audio of the spec's duration for one note.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import numpy as np

from .spec import Spec


class SynthAdapter(ABC):
    """Base class for synth adapters, registered through the ``register_adapters`` hook.

    Subclasses set ``default_spec`` (a registered spec name used by ``--synth NAME``) and implement
    ``set_patch``, ``get_patch``, ``render`` and ``save_preset``. One instance drives one synth
    instance; the render job builds one per worker process.
    """

    default_spec: ClassVar[str | None] = None
    preset_suffix: ClassVar[str] = ".preset"  # the file type ``save_preset`` writes

    def __init__(self, spec: Spec):
        self.spec = spec

    @abstractmethod
    def set_patch(self, patch: Mapping[str, float]) -> None:
        """Apply parameter values (synth names, synth units) on top of the base preset."""

    @abstractmethod
    def get_patch(self) -> dict[str, float]:
        """The values the synth holds now, read back from the synth (not from a cache)."""

    @abstractmethod
    def render(self, note: int | None = None, velocity: int | None = None) -> np.ndarray:
        """Render one note of the current patch from silence: note-on at 0, note-off after the
        spec's ``note_length``, ``duration`` seconds in all, mono float32 at the spec's rate.
        No tail of an earlier render may leak into this one."""

    @abstractmethod
    def save_preset(self, path: str | Path) -> Path:
        """Write the current patch as a preset the synth can open; returns the path written."""

    def parameter_names(self) -> set[str]:
        """The synth's own parameter names; a spec fits this synth if it uses only these."""
        return set(self.get_patch())

    def load_preset(self, path: str | Path) -> dict[str, float]:
        """The values a preset file sets (synth names and units), for ``spec fit``. The default
        reads what ``save_preset`` wrote if that is a YAML mapping of ``parameters``."""
        import yaml

        data = yaml.safe_load(Path(path).read_text())
        if not isinstance(data, dict) or not isinstance(data.get("parameters"), dict):
            from .errors import SoundmatchError

            raise SoundmatchError(f"{path}: not a preset (expected a 'parameters' mapping)")
        return {str(k): float(v) for k, v in data["parameters"].items()}

    def render_patch(
        self, patch: Mapping[str, float], note: int | None = None, velocity: int | None = None
    ) -> np.ndarray:
        self.set_patch(patch)
        return self.render(note, velocity)

    def notes(self) -> list[str]:
        """Things a user should know about how this adapter drives its synth (e.g. a workaround
        it had to use); ``spec check`` prints them."""
        return []

    def close(self) -> None:  # noqa: B027 - optional: most adapters hold nothing to release
        """Release the synth (plugin instance, threads). Called once per instance."""
