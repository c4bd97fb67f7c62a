"""The built-in synth: a fast in-process subtractive wavetable synth, so everything in soundmatch
runs with no plugin installed. ``builtin-16`` drives the 16 parameters that mirror the paper's
Massive patch; ``builtin-rich`` adds what real sounds need (sustain and release, a filter
envelope that holds, a dry path beside the lowpass, formants, FM, the reverb's size)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import yaml

from soundmatch.adapter import SynthAdapter
from soundmatch.errors import SoundmatchError
from soundmatch.spec import Spec

from .wavetables import single_cycle, unit

# The synth's own parameters, in its own units, with the value each has in the base patch.
PARAMETERS: dict[str, float] = {
    "osc1_position": 0.0,       # wavetable position, 0..1
    "osc1_amp": 0.8,            # gain, 0..1
    "osc2_pitch": 0.0,          # detune, semitones
    "osc2_position": 0.0,
    "osc2_amp": 0.0,
    "noise_amp": 0.0,
    "filter1_cut_prm_1": 20000.0,  # lowpass cutoff, Hz
    "filter1_res_prm_3": 0.0,      # lowpass resonance, 0..1
    "filter2_cut_prm_1": 20.0,     # highpass cutoff, Hz
    "filter2_res_prm_3": 0.0,      # highpass resonance, 0..1
    "envelope4_att_tme": 0.005,    # amplitude attack, s
    "envelope4_dec_tme": 4.0,      # amplitude decay (T60 while held), s
    "envelope1_att_tme": 0.005,    # lowpass-cutoff envelope attack, s
    "envelope1_att_lev": 0.0,      # lowpass-cutoff envelope depth, octaves
    "envelope1_dec_tme": 1.0,      # lowpass-cutoff envelope decay (T60), s
    "master_fx2_dry_wet": 0.0,     # reverb mix, 0..1
    # Beyond the paper's patch (builtin-rich); each neutral here, so builtin-16 is unchanged.
    "amp_sustain": 0.0,            # amplitude sustain level while held, 0..1
    "amp_release": None,           # amplitude release (T60), s; None: the 'release' option
    "filter_env_sustain": 0.0,     # lowpass-cutoff envelope sustain, fraction of its depth
    "fm_amount": 0.0,              # oscillator 2 -> oscillator 1 phase modulation index
    "formant1_freq": 800.0,        # first formant (peaking filter, Q 4), Hz
    "formant1_gain_db": 0.0,
    "formant2_freq": 2500.0,       # second formant, Hz
    "formant2_gain_db": 0.0,
    "filter_dry": 0.0,             # unfiltered source mixed beside the lowpass, gain 0..1
    "reverb_size": None,           # reverb room size, 0..1; None: the 'reverb_room_size' option
}

# Settings of the base patch that are not sampled; a spec may override them under synth.options.
OPTIONS: dict[str, float] = {
    "release": 0.3,          # amplitude release after note-off (T60), s
    "reverb_room_size": 0.8,
    "reverb_damping": 0.4,
    "reverb_width": 1.0,
    "level": 0.5,            # output gain before the soft clipper
}

# Options that only give a parameter its starting value (option -> parameter).
MIRRORED_OPTIONS = {"release": "amp_release", "reverb_room_size": "reverb_size"}
# The values each option may take.
OPTION_RANGES: dict[str, tuple[float, float]] = {
    "release": (0.0, 60.0), "reverb_room_size": (0.0, 1.0), "reverb_damping": (0.0, 1.0),
    "reverb_width": (0.0, 1.0), "level": (0.0, 4.0),
}


def _option(spec: Spec, key: str, value) -> float:
    low, high = OPTION_RANGES[key]
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not low <= value <= high):
        raise SoundmatchError(f"{spec.source}: synth.options.{key}: found {str(value)[:80]!r}, "
                              f"expected a number in [{low:g}, {high:g}]")
    return float(value)


REVERB_LANES = 8  # float32: eight to a 256-bit register (dsp.reverbs)


def _lane_groups(items: list[int], lanes: int) -> list[tuple[list[int], list[int]]]:
    """``items`` in groups of ``lanes`` to render side by side, each as (group, the group padded
    to ``lanes`` with copies of its last item); where a group would hold two or fewer, its
    items one by one as ([item], []): more than two are cheaper in lanes than alone."""
    groups = []
    for start in range(0, len(items), lanes):
        group = items[start:start + lanes]
        if len(group) > 2:
            groups.append((group, group + group[-1:] * (lanes - len(group))))
        else:
            groups += [([k], []) for k in group]
    return groups


def _lasts(voice: Mapping[str, float], note_off: float) -> float:
    """About when a voice falls silent (s); its envelope stops 180 dB down, three T60s."""
    released = note_off + 3.0 * voice["release"]
    if voice["amp_sustain"] > 0.0:
        return released
    return min(voice["amp_attack"] + 3.0 * voice["amp_decay"], released)


NOISE_SEED = 0x5EED
MIN_TIME = 1e-4


class BuiltinSynth(SynthAdapter):
    """Deterministic: the same patch and note always give the same samples (the noise is seeded)."""

    default_spec = "builtin-16"
    preset_suffix = ".yaml"
    fractional_notes = True
    thread_safe = True  # the numba voice and reverb release the GIL
    renders_prefix = True  # every stage is causal: a shorter render is the longer one's start
    renders_together = True  # render_patches: voices side by side in SIMD lanes
    lanes = 4  # dsp.LANES (dsp, and numba with it, is imported when a synth is made)

    def __init__(self, spec: Spec):
        # numba is imported here, not with the plugin: listing plugins and `soundmatch --help`
        # load every plugin module and should not pay for it.
        from . import dsp

        super().__init__(spec)
        self._dsp = dsp
        unknown = sorted(set(spec.options) - set(OPTIONS))
        if unknown:
            raise SoundmatchError(
                f"{spec.source}: synth.options.{unknown[0]}: unknown option for the builtin synth; "
                f"expected one of {', '.join(OPTIONS)}"
            )
        for p in spec.parameters:
            if p.synth_name not in PARAMETERS:
                raise SoundmatchError(
                    f"{spec.source}: parameter {p.name}: synth_name '{p.synth_name}' is not a "
                    f"builtin synth parameter; expected one of {', '.join(PARAMETERS)}"
                )
        self.options = {**OPTIONS, **{k: _option(spec, k, v) for k, v in spec.options.items()}}
        self._patch = dict(PARAMETERS)
        for option, parameter in MIRRORED_OPTIONS.items():
            self._patch[parameter] = self.options[option]
        for p in spec.parameters:
            self._patch[p.synth_name] = p.default
        self._noise = np.zeros(0)

    def set_patch(self, patch: Mapping[str, float]) -> None:
        self._patch = self._patch_after(patch)

    def get_patch(self) -> dict[str, float]:
        return dict(self._patch)

    def _noise_for(self, n: int) -> np.ndarray:
        if len(self._noise) < n:
            self._noise = np.random.default_rng(NOISE_SEED).uniform(-1.0, 1.0, n)
        return self._noise

    def render(self, note: float, velocity: int, samples: int | None = None) -> np.ndarray:
        return self._render([self._patch], [note], velocity, self._samples(samples))[0]

    def render_patches(self, patches: Sequence[Mapping[str, float]], notes: Sequence[float],
                       velocity: int | None = None,
                       samples: int | None = None) -> list[np.ndarray]:
        """What ``render_patch`` gives for each patch in turn, to the bit, with the voices and
        their reverbs rendered side by side in SIMD lanes (``dsp.voices``, ``dsp.reverbs``)."""
        settings = self.spec.render
        velocity = settings.velocity if velocity is None else int(velocity)
        if samples is not None and samples >= settings.num_samples:
            samples = None  # the whole note, as render_note renders it
        whole = [self._patch]
        for patch in patches:  # each set on the one before, as render_patch sets them
            whole.append(self._patch_after(patch, whole[-1]))
        patches = whole[1:]
        rendered = self._render(patches, notes, velocity, self._samples(samples))
        if patches:
            self._patch = patches[-1]
        return [self._checked(out, samples) for out in rendered]

    def _render(self, patches: list[dict[str, float]], notes: Sequence[float], velocity: int,
                n: int) -> list[np.ndarray]:
        """The first ``n`` samples of each patch's note, through its reverb."""
        sr, note_off = float(self.spec.render.sample_rate), self.spec.render.note_length
        voices = [self._voice(p, note, velocity) for p, note in zip(patches, notes, strict=True)]
        # Lanes run until their last voice dies away, so voices that last alike share them: a
        # search's candidates for a one-shot die away at times seconds apart.
        order = sorted(range(len(voices)), key=lambda k: _lasts(voices[k], note_off))
        out: list[np.ndarray] = [np.empty(0, np.float32)] * len(voices)
        for group, padded in _lane_groups(order, self._dsp.LANES):
            if padded:
                rows = self._dsp.voices(sr, n, self._noise_for(n), note_off,
                                        [voices[k] for k in padded])
            else:
                rows = [self._dsp.voice(np.empty(n, dtype=np.float32), sr, noise=self._noise_for(n),
                                        note_off=note_off, **voices[group[0]])]
            for k, row in zip(group, rows, strict=False):
                out[k] = row
        mixes = [unit(p["master_fx2_dry_wet"]) for p in patches]
        wet = [k for k, mix in enumerate(mixes) if mix > 0.0]
        for group, padded in _lane_groups(wet, REVERB_LANES):
            rooms = [unit(patches[k]["reverb_size"]) for k in padded or group]
            rest = self.options["reverb_damping"], self.options["reverb_width"], 1.0, 0.0
            if padded:
                wets = self._dsp.reverbs(np.stack([out[k] for k in padded], axis=1), sr, rooms,
                                         *rest).T
            else:
                wets = [self._dsp.reverb(out[group[0]], sr, rooms[0], *rest)]
            for k, w in zip(group, wets, strict=False):
                # pedalboard's Reverb, bit for bit, from silence on every render; a loud resonant
                # patch plus its reverb can pass full scale: the output is kept in [-1, 1].
                out[k] = self._dsp.blend(out[k], np.ascontiguousarray(w), mixes[k])
        return out

    def _patch_after(self, patch: Mapping[str, float],
                     on: Mapping[str, float] | None = None) -> dict[str, float]:
        """The whole patch that ``set_patch(patch)`` leaves on ``on`` (None: the current one)."""
        unknown = set(patch) - set(PARAMETERS)
        if unknown:
            raise SoundmatchError(f"builtin synth has no parameter '{sorted(unknown)[0]}'")
        return {**(self._patch if on is None else on), **{k: float(v) for k, v in patch.items()}}

    def _samples(self, samples: int | None) -> int:
        return self.spec.render.num_samples if samples is None else samples

    def _voice(self, p: Mapping[str, float], note: float, velocity: int) -> dict:
        """``dsp.voice``'s arguments for patch ``p`` at ``note`` (but the output, the rate, the
        noise and the note-off)."""
        sr = self.spec.render.sample_rate
        f1 = 440.0 * 2.0 ** ((note - 69) / 12.0)
        f2 = f1 * 2.0 ** (p["osc2_pitch"] / 12.0)
        return dict(
            table1=single_cycle(p["osc1_position"], f1, sr), inc1=f1 / sr, gain1=p["osc1_amp"],
            table2=single_cycle(p["osc2_position"], f2, sr), inc2=f2 / sr, gain2=p["osc2_amp"],
            noise_gain=p["noise_amp"],
            lp_cutoff=p["filter1_cut_prm_1"], lp_resonance=p["filter1_res_prm_3"],
            env_depth_octaves=p["envelope1_att_lev"],
            env_attack=max(p["envelope1_att_tme"], MIN_TIME),
            env_decay=max(p["envelope1_dec_tme"], MIN_TIME),
            hp_cutoff=p["filter2_cut_prm_1"], hp_resonance=p["filter2_res_prm_3"],
            amp_attack=max(p["envelope4_att_tme"], MIN_TIME),
            amp_decay=max(p["envelope4_dec_tme"], MIN_TIME),
            release=max(p["amp_release"], MIN_TIME),
            level=self.options["level"] * velocity / 127.0,
            amp_sustain=unit(p["amp_sustain"]), env_sustain=unit(p["filter_env_sustain"]),
            fm_index=p["fm_amount"],
            f1_freq=p["formant1_freq"], f1_gain=10.0 ** (p["formant1_gain_db"] / 20.0),
            f2_freq=p["formant2_freq"], f2_gain=10.0 ** (p["formant2_gain_db"] / 20.0),
            dry_gain=unit(p["filter_dry"]),
        )

    def save_preset(self, path: str | Path) -> Path:
        """A builtin preset is a YAML mapping of its parameters (synth units) and options."""
        path = Path(path)
        # One value per setting: the release and room size options only seed the parameters
        # amp_release and reverb_size, which the preset holds.
        options = {k: v for k, v in self.options.items() if k not in MIRRORED_OPTIONS}
        preset = {"synth": "builtin", "parameters": self.get_patch(), "options": options}
        path.write_text(yaml.safe_dump(preset, sort_keys=False))
        return path
