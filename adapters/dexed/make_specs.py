"""Writes the dexed specs (soundmatch_dexed/dexed-voice.yaml and dexed-small.yaml) from the
adapter's parameter table: python adapters/dexed/make_specs.py. Each spec samples uniformly;
fit one to real voices with `soundmatch spec fit dexed-small --presets /usr/share/hexter`."""

from __future__ import annotations

from pathlib import Path

import yaml
from dexed import Patch
from soundmatch_dexed import MAXIMA, NAMES, VOICE_BYTES

HERE = Path(__file__).parent / "soundmatch_dexed"
CURVES = ["-lin", "-exp", "+exp", "+lin"]
CHOICES = {
    "algorithm": [str(i) for i in range(1, 33)],
    "lfo_wave": ["triangle", "saw down", "saw up", "square", "sine", "sample and hold"],
    "osc_key_sync": ["off", "on"],
    "lfo_key_sync": ["off", "on"],
    "osc_mode": ["ratio", "fixed"],
    "kbd_left_curve": CURVES,
    "kbd_right_curve": CURVES,
}
RENDER = {"note": 60, "velocity": 100, "duration": 2.0, "note_length": 1.0,
          "sample_rate": 44100, "silence_threshold_db": -60.0}
# What a CPU model can learn, and what most decides an FM sound: the algorithm and feedback, and
# per operator its level (carrier loudness, or modulation index), its frequency ratio, and its
# envelope: attack rate (rate 1), decay rate (rate 3: INIT VOICE's levels 1 and 2 are equal, so
# rate 2 changes nothing), sustain level (level 3) and release rate (rate 4). Everything else
# stays at INIT VOICE.
SMALL = ["algorithm", "feedback"] + [
    f"op{op}_{field}" for op in range(1, 7)
    for field in ("output_level", "freq_coarse", "eg_rate1", "eg_rate3", "eg_level3", "eg_rate4")]


# Left out of the voice spec, because a note rendered from silence at one velocity cannot hear
# them (spec check finds them silent): osc_key_sync only says whether the oscillators restart
# their phase at a key-on; an operator's velocity_sensitivity scales its level by how far the
# velocity is from about 100, where the DX7's velocity curve is flat.
UNHEARD = {"osc_key_sync"} | {f"op{op}_velocity_sensitivity" for op in range(1, 7)}


def parameter(name: str, default: int) -> dict:
    field = name.split("_", 1)[1] if name.startswith("op") else name
    if field in CHOICES:
        return {"name": name, "type": "choice", "choices": CHOICES[field], "default": default}
    return {"name": name, "type": "steps", "min": 0, "max": MAXIMA[name], "default": default}


def main() -> None:
    init = Patch().to_sysex()[:VOICE_BYTES]
    defaults = dict(zip(NAMES, init, strict=False))
    order = sorted((n for n in NAMES if n not in UNHEARD),
                   key=lambda n: (not n.startswith("op"), n[:3], NAMES.index(n)))
    full = [parameter(n, defaults[n]) for n in order]
    small = [parameter(n, defaults[n]) for n in SMALL]
    # A DX7 parameter often matters only in some voices (an operator's release only if it
    # sounds after note-off), so the check tries each in more patches than the default three.
    for name, params, text, patches in (
            ("dexed-voice", full, "the DX7 voice: 138 of its 145 parameters, 117 in whole-number "
                                  "steps and 21 choices (not osc_key_sync and the operators' "
                                  "velocity sensitivity, which one note at one velocity cannot "
                                  "hear)", 64),
            ("dexed-small", small, f"{len(small)} parameters a CPU model can learn: algorithm, "
                                   "feedback, and per operator level, ratio, attack, decay, "
                                   "sustain and release (the rest: INIT VOICE)", 8)):
        spec = {"name": name, "description": f"Dexed (DX7), {text}",
                "synth": {"adapter": "dexed", "options": {}}, "render": RENDER,
                "check": {"patches": patches}, "parameters": params}
        header = ("# Written by adapters/dexed/make_specs.py (edit that, not this). Sampling is "
                  "uniform; fit it to\n# real voices: soundmatch spec fit NAME --presets "
                  "/usr/share/hexter --out fitted.yaml\n")
        body = yaml.safe_dump(spec, sort_keys=False, width=100, default_flow_style=None)
        (HERE / f"{name}.yaml").write_text(header + body)


if __name__ == "__main__":
    main()
