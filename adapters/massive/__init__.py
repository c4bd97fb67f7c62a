"""The ``massive`` adapter: Native Instruments Massive through the ``vst3`` adapter, found in its
usual install locations, with the paper's 16-parameter spec (``specs/massive-16.yaml``)."""

from __future__ import annotations

import os
from pathlib import Path

from soundmatch_adapters.vst3.adapter import VST3Synth

from soundmatch import hookimpl
from soundmatch.adapter import option_path, synth_path_override
from soundmatch.errors import SoundmatchError

ENV_MASSIVE_PATH = "SOUNDMATCH_MASSIVE_PATH"
LOCATIONS = (
    "/Library/Audio/Plug-Ins/VST3/Massive.vst3",                          # macOS
    "~/Library/Audio/Plug-Ins/VST3/Massive.vst3",
    "/Library/Audio/Plug-Ins/Components/Massive.component",               # macOS, AU
    "C:/Program Files/Common Files/VST3/Massive.vst3",                    # Windows
    "C:/Program Files/Native Instruments/VSTPlugins 64 bit/Massive.vst3",
)


class MassiveSynth(VST3Synth):
    default_spec = "massive-16"

    def locate(self, spec, plugin_path):
        override = (plugin_path or os.environ.get(ENV_MASSIVE_PATH)
                    or synth_path_override())
        if override:
            return Path(override)
        # An untrusted spec (from a checkpoint or dataset) never chooses the binary: only the
        # standard install locations are searched then.
        configured = option_path(spec, "plugin_path") if spec.trusted else None
        candidates = ([configured] if configured else []) + [
            Path(os.path.expanduser(p)) for p in LOCATIONS]
        for path in candidates:
            if path.exists():
                return path
        raise SoundmatchError(
            f"Massive not found; looked in {', '.join(str(p) for p in candidates)}; point at it "
            f"with --synth-path PATH or ${ENV_MASSIVE_PATH}")


@hookimpl
def register_adapters(register):
    register("massive", MassiveSynth)
