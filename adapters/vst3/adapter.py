"""The ``vst3`` adapter: any VST3 instrument (AU too, on macOS) hosted headless by pedalboard.

A spec maps its parameters to the plugin's own parameter names (as pedalboard exposes them:
lower-case, underscores) in the plugin's own units. Spec options (``synth.options``):

- ``plugin_path``: the .vst3 bundle (relative paths are relative to the spec file); the
  ``--synth-path`` option and ``SOUNDMATCH_SYNTH_PATH`` override it. Only a spec file the user
  names may set it: the spec inside a checkpoint or dataset never chooses a plugin binary.
- ``plugin_name``: for bundles holding several plugins.
- ``base_state``: a file with the plugin's saved state (``save_preset`` writes one, or a
  .vstpreset), applied before every patch: the base preset.
- ``apply``: how parameter values reach the plugin. Some plugins lose values a host sets between
  renders when the render resets them (pedalboard #339, Massive), so every render sounds the
  same. ``direct`` sets them one by one; ``flush`` then processes a few silent samples, so the
  plugin's engine takes them before the reset; ``state`` then reloads the plugin's own state,
  values included. ``auto`` (the default) renders one probe patch when the plugin loads and keeps
  the first of these, in that order, under which every value survives the render.
- ``transpose_parameter``: the plugin's parameter that transposes (its pedalboard name), and
  ``transpose_per_semitone`` its change for one semitone (default 1: a parameter in semitones).
  A match played an octave from the input's key is written with this parameter moved, so that
  the preset plays the input's pitch from the input's key; without it, the match record names
  the key to play instead.
- ``keep_alive``: ``true`` (the default on Linux) loads a second, idle instance of the plugin
  beside the one that renders. pedalboard clears a note's tail by reinstantiating an instrument
  on every render; on Linux a plugin built with JUCE then also stops and restarts its message
  thread each time (a thread start and X11 connection attempts) unless another instance of it is
  alive. The idle instance keeps that thread up: the VST3 test synth renders in about 22 instead
  of 27 ms, the same samples. ``false`` saves the second instance's memory (plugins not built
  with JUCE gain nothing from it; on macOS and Windows JUCE has no such thread).
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np

from soundmatch.adapter import (
    AUDIBLE_THRESHOLD,
    SYNTH_PATH_ENV,
    SynthAdapter,
    holds,
    option_path,
    synth_path_override,
)
from soundmatch.errors import SoundmatchError, first_line
from soundmatch.fileio import read_bounded
from soundmatch.spec import Spec

OPTIONS = ("plugin_path", "plugin_name", "base_state", "apply", "keep_alive",
           "transpose_parameter", "transpose_per_semitone")
APPLY_MODES = ("direct", "flush", "state")
FLUSH_SAMPLES = 64
# A plugin's saved state: kilobytes for most, a few MB with samples or wavetables inside.
MAX_STATE_BYTES = 64 << 20


def load_instrument(path: Path, plugin_name: str | None = None):
    """Load a plugin instrument, with one clear error for every way that can fail."""
    import pedalboard  # here, not at import: listing plugins should not load a plugin host

    if not path.exists():
        raise SoundmatchError(f"{path}: no such plugin")
    try:
        plugin = pedalboard.load_plugin(str(path), plugin_name=plugin_name)
    except Exception as exc:  # pedalboard raises ImportError/RuntimeError/ValueError here
        reason = first_line(exc)
        raise SoundmatchError(f"{path}: cannot load plugin ({reason})") from None
    if not getattr(plugin, "is_instrument", False):
        raise SoundmatchError(f"{path}: is an effect, not an instrument (it takes no MIDI)")
    return plugin


class VST3Synth(SynthAdapter):
    """One plugin instance. Renders from silence: the plugin is reset before every note."""

    default_spec = None
    preset_suffix = ".vstpreset"
    file_options = ("plugin_path", "base_state")

    def __init__(self, spec: Spec, plugin_path: str | Path | None = None):
        super().__init__(spec)
        unknown = sorted(set(spec.options) - set(OPTIONS))
        if unknown:
            raise SoundmatchError(f"{spec.source}: synth.options.{unknown[0]}: unknown option; "
                                  f"expected one of {', '.join(OPTIONS)}")
        path = self.locate(spec, plugin_path)
        self.plugin = load_instrument(path, spec.options.get("plugin_name"))
        self.path = path
        keep_alive = spec.options.get("keep_alive", sys.platform.startswith("linux"))
        if not isinstance(keep_alive, bool):
            raise SoundmatchError(f"{spec.source}: synth.options.keep_alive: found "
                                  f"{keep_alive!r}, expected true or false")
        # Never rendered, only held: see keep_alive in the module's docstring.
        self._idle = load_instrument(path, spec.options.get("plugin_name")) if keep_alive else None
        self._check_names()
        self._base_state = None
        base = option_path(spec, "base_state")
        if base is not None:
            self._base_state = self._read_state(base)
        self._channels = 2
        apply = spec.options.get("apply", "auto")
        if apply not in ("auto", *APPLY_MODES):
            raise SoundmatchError(f"{spec.source}: synth.options.apply: found {apply!r}, expected "
                                  f"one of auto, {', '.join(APPLY_MODES)}")
        self.apply = apply
        if apply == "auto":
            self.apply = self._choose_apply()
            # Settled once: another instance of this spec (a search's worker process) takes the
            # mode rather than probing again, a probe that also needs torch there.
            self.spec = replace(spec, options={**spec.options, "apply": self.apply})

    # -------------------------------------------------------------- finding the plugin

    def locate(self, spec: Spec, plugin_path: str | Path | None) -> Path:
        override = plugin_path or synth_path_override()
        if override:
            return Path(override)
        path = option_path(spec, "plugin_path", how="--synth-path PATH")
        if path is None:
            raise SoundmatchError(f"{spec.source}: synth.options.plugin_path: missing; expected "
                                  f"the plugin's path (or --synth-path, or ${SYNTH_PATH_ENV})")
        return path

    def loaded_file(self) -> Path:
        return self.path

    def _check_names(self) -> None:
        names = list(self.plugin.parameters)
        for p in self.spec.parameters:
            if p.synth_name not in self.plugin.parameters:
                close = difflib.get_close_matches(p.synth_name, names, n=3, cutoff=0.4)
                hint = f"closest: {', '.join(close)}" if close else f"it has {len(names)} others"
                raise SoundmatchError(
                    f"{self.spec.source}: parameter {p.name}: synth_name '{p.synth_name}' is not "
                    f"a parameter of {self.path.name} ({hint}); `soundmatch spec inspect "
                    f"--plugin {self.path}` lists them")

    # -------------------------------------------------------------- state

    def _read_state(self, path: Path) -> bytes:
        data = read_bounded(path, MAX_STATE_BYTES, "plugin state (synth.options.base_state)")
        if path.suffix == ".vstpreset":
            try:
                self.plugin.load_preset(str(path))
            except Exception as exc:
                raise SoundmatchError(f"{path}: cannot load preset ({exc})") from None
            return bytes(self.plugin.raw_state)
        return data

    def set_patch(self, patch: Mapping[str, float]) -> None:
        if self._base_state is not None:
            self.plugin.raw_state = self._base_state
        for name, value in patch.items():
            try:
                try:
                    setattr(self.plugin, name, float(value))
                except (ValueError, TypeError):
                    # A switch or a parameter with named values takes no number: get_patch
                    # reads its raw 0..1 value, so a whole patch read back sets it the same way.
                    parameter = self.plugin.parameters.get(name)
                    if parameter is None or not hasattr(parameter, "raw_value"):
                        raise
                    parameter.raw_value = float(value)
            except (ValueError, AttributeError, TypeError) as exc:
                raise SoundmatchError(f"{self.path.name}: cannot set {name} to {value:g} "
                                      f"({exc})") from None
        if self.apply == "flush":
            # Same rate and channels as the render, so the plugin is not prepared (and reset)
            # again before it has processed the new values.
            r = self.spec.render
            self.plugin([], duration=FLUSH_SAMPLES / r.sample_rate, sample_rate=r.sample_rate,
                        num_channels=self._channels, reset=False)
        elif self.apply == "state":
            self.plugin.raw_state = bytes(self.plugin.raw_state)

    def _choose_apply(self) -> str:
        """The cheapest apply mode under which values survive a render: two probe patches, every
        spec parameter at a quarter of its range and then at three quarters (not at the ends,
        where buggy plugins are likeliest to crash), must each be read back after their render
        and must sound different. (A plugin may report the value it was given while its engine
        plays its defaults, so the read-back alone does not tell.)"""
        from soundmatch.features import FeatureConfig, log_mel  # torch: only when a synth loads

        low = self.spec.to_synth(np.full(len(self.spec), 0.25))
        high = self.spec.to_synth(np.full(len(self.spec), 0.75))
        features = FeatureConfig(sample_rate=self.spec.render.sample_rate)
        for mode in APPLY_MODES:
            self.apply = mode
            mels, held = [], True
            for probe in (low, high):
                self.set_patch(probe)
                mels.append(log_mel(self.render_note(), features))
                after = self.get_patch()
                held = held and all(holds(p, probe, after) for p in self.spec.parameters)
            if held and float((mels[0] - mels[1]).abs().mean()) >= AUDIBLE_THRESHOLD:
                return mode
        # Nothing helps: keep the cheapest, and let `spec check` name the parameters that fail.
        return APPLY_MODES[0]

    def notes(self) -> list[str]:
        if self.apply == "direct":
            return []
        return [f"{self.path.name} loses parameter values set directly when a render resets it; "
                f"soundmatch applies them with apply: {self.apply}"]

    def load_preset(self, path: str | Path) -> dict[str, float]:
        """A .vstpreset or a saved state, read through the plugin itself."""
        self.plugin.raw_state = self._read_state(Path(path))
        return self.get_patch()

    def get_patch(self) -> dict[str, float]:
        out = {}
        for name, parameter in self.plugin.parameters.items():
            value = getattr(self.plugin, name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[name] = float(value)
            elif hasattr(parameter, "raw_value"):
                out.setdefault(name, float(parameter.raw_value))
        return out

    def parameter_names(self) -> set[str]:
        return set(self.plugin.parameters)

    def transposed(self, patch: Mapping[str, float], semitones: int) -> dict[str, float] | None:
        name = self.spec.options.get("transpose_parameter")
        if name is None:
            return None
        per = self.spec.options.get("transpose_per_semitone", 1.0)
        if name not in patch or isinstance(per, bool) or not isinstance(per, (int, float)):
            raise SoundmatchError(f"{self.spec.source}: synth.options.transpose_parameter: "
                                  f"found {name!r} (per semitone {per!r}), expected one of the "
                                  "plugin's parameters and a number")
        parameter = self.plugin.parameters[name]
        shifted = patch[name] + semitones * float(per)
        low, high = getattr(parameter, "min_value", None), getattr(parameter, "max_value", None)
        if low is not None and high is not None and not low <= shifted <= high:
            return None
        return {**patch, name: shifted}

    # -------------------------------------------------------------- rendering

    def render(self, note: int, velocity: int) -> np.ndarray:
        r = self.spec.render
        messages = [(bytes([0x90, note, velocity]), 0.0), (bytes([0x80, note, 0]), r.note_length)]
        try:
            # reset=True clears the previous note's tail; a separate plugin.reset() would cost
            # a second reset (26 ms on the test instrument, as much as the whole render).
            audio = self.plugin(messages, duration=r.duration, sample_rate=r.sample_rate,
                                num_channels=self._channels, reset=True)
        except ValueError:
            if self._channels == 1:
                raise
            self._channels = 1  # a mono instrument: ask for what its output bus has
            return self.render(note, velocity)
        audio = np.asarray(audio, dtype=np.float32)
        mono = audio.mean(axis=0) if audio.ndim == 2 else audio
        return np.ascontiguousarray(mono[: r.num_samples], dtype=np.float32)

    def save_preset(self, path: str | Path) -> Path:
        """The plugin's state: a .vstpreset for VST3 plugins (opens in any VST3 host), else the
        raw state bytes (loadable as synth.options.base_state)."""
        path = Path(path)
        if path.suffix == ".vstpreset" and hasattr(self.plugin, "preset_data"):
            path.write_bytes(bytes(self.plugin.preset_data))
        else:
            path.write_bytes(bytes(self.plugin.raw_state))
        return path
