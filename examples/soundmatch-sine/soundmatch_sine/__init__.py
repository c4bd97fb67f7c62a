"""A complete soundmatch synth adapter in one file: `pip install examples/soundmatch-sine`, then
`soundmatch plugins` lists it and `soundmatch render --synth sine` renders a dataset from it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from soundmatch import hookimpl
from soundmatch.adapter import SynthAdapter

DEFAULTS = {"ratio": 1.0, "decay": 1.0, "gain": 0.5}


class SineSynth(SynthAdapter):
    """A sine at `ratio` times the note's frequency, decaying to -60 dB in `decay` seconds."""

    default_spec = "sine-3"
    preset_suffix = ".yaml"

    def __init__(self, spec):
        super().__init__(spec)
        self._patch = dict(DEFAULTS)

    def set_patch(self, patch):
        self._patch.update({k: float(v) for k, v in patch.items()})

    def get_patch(self):
        return dict(self._patch)

    def render(self, note, velocity):
        r = self.spec.render
        t = np.arange(r.num_samples) / r.sample_rate
        hz = 440.0 * 2 ** ((note - 69) / 12) * self._patch["ratio"]
        envelope = np.exp(-6.9 * t / self._patch["decay"]) * (t < r.note_length)
        gain = self._patch["gain"] * velocity / 127
        return (gain * envelope * np.sin(2 * np.pi * hz * t)).astype(np.float32)

    def save_preset(self, path):
        Path(path).write_text(yaml.safe_dump({"synth": "sine", "parameters": self._patch}))
        return Path(path)


@hookimpl
def register_adapters(register):
    register("sine", SineSynth)


@hookimpl
def register_specs(register):
    register("sine-3", Path(__file__).with_name("sine-3.yaml"))
