"""soundmatch adapter for Dexed, the DX7 FM synthesizer, through the dexed-py package.

A patch is a DX7 voice: its 145 parameters in the DX7's own units and names (``op1_output_level``
0-99, ``algorithm`` 0-31, ...), as the voice data of a DX7 sysex dump holds them. Presets are DX7
sysex files: a single voice (``save_preset``) or 32-voice banks (``.syx``, and the raw ``.dx7``
banks that Debian's ``hexter`` package installs), read by ``load_presets`` for ``spec fit``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from soundmatch import hookimpl
from soundmatch.adapter import SynthAdapter, option_path
from soundmatch.errors import SoundmatchError
from soundmatch.fileio import read_bounded

HERE = Path(__file__).parent
# Where DX7 banks are installed: Debian's hexter (432 factory voices), Dexed's own cartridges.
FACTORY_BANKS = (Path("/usr/share/hexter"), Path("/usr/local/share/hexter"),
                 Path.home() / ".local" / "share" / "DigitalSuburban" / "Dexed" / "Cartridges",
                 Path.home() / "Documents" / "DigitalSuburban" / "Dexed" / "Cartridges")

# One operator's 21 values, in the order of the DX7 voice data (VCED).
OPERATOR_FIELDS = (
    ("eg_rate1", 99), ("eg_rate2", 99), ("eg_rate3", 99), ("eg_rate4", 99),
    ("eg_level1", 99), ("eg_level2", 99), ("eg_level3", 99), ("eg_level4", 99),
    ("kbd_breakpoint", 99), ("kbd_left_depth", 99), ("kbd_right_depth", 99),
    ("kbd_left_curve", 3), ("kbd_right_curve", 3), ("kbd_rate_scaling", 7),
    ("amp_mod_sensitivity", 3), ("velocity_sensitivity", 7), ("output_level", 99),
    ("osc_mode", 1), ("freq_coarse", 31), ("freq_fine", 99), ("detune", 14),
)
GLOBAL_FIELDS = (
    ("pitch_eg_rate1", 99), ("pitch_eg_rate2", 99), ("pitch_eg_rate3", 99), ("pitch_eg_rate4", 99),
    ("pitch_eg_level1", 99), ("pitch_eg_level2", 99), ("pitch_eg_level3", 99),
    ("pitch_eg_level4", 99), ("algorithm", 31), ("feedback", 7), ("osc_key_sync", 1),
    ("lfo_speed", 99), ("lfo_delay", 99), ("lfo_pitch_mod_depth", 99), ("lfo_amp_mod_depth", 99),
    ("lfo_key_sync", 1), ("lfo_wave", 5), ("pitch_mod_sensitivity", 7), ("transpose", 48),
)
# The voice data stores operator 6 first.
NAMES: tuple[str, ...] = tuple(
    [f"op{op}_{field}" for op in range(6, 0, -1) for field, _ in OPERATOR_FIELDS]
    + [field for field, _ in GLOBAL_FIELDS])
MAXIMA: dict[str, int] = dict(zip(NAMES, [m for _ in range(6) for _, m in OPERATOR_FIELDS]
                                  + [m for _, m in GLOBAL_FIELDS], strict=True))
INDEX: dict[str, int] = {name: i for i, name in enumerate(NAMES)}  # the byte each one is in
VOICE_BYTES = 155  # 145 parameters and a 10-character name
SINGLE_VOICE_HEADER = bytes([0xF0, 0x43, 0x00, 0x00, 0x01, 0x1B])
PACKED_VOICE_BYTES = 128  # a voice inside a 32-voice bank
# dexed-py's output is not normalised: factory voices peak at up to 6.3 (hexter's 432 voices at
# notes 36, 60 and 84, velocity 127). This brings them under 0.8, so none clips.
OUTPUT_GAIN = 0.125


def _single_voice_dump(voice: bytes) -> bytes:
    """A DX7 single-voice sysex dump (what a DX7, Dexed and any librarian open)."""
    checksum = (-sum(voice)) & 0x7F
    return SINGLE_VOICE_HEADER + voice + bytes([checksum, 0xF7])


# A packed (VMEM) voice: the highest value of each of its 128 bytes. Per operator 17 bytes (rates,
# levels, scaling, then bit fields: curves 2+2 bits, rate scaling 3 + detune 4, AMS 2 + velocity
# 3, output level, osc mode 1 + coarse 5, fine), operator 6 first; then the global bytes (pitch
# EG, algorithm, feedback 3 + key sync 1, LFO, sync 1 + wave 3 + pitch mod sensitivity 3,
# transpose) and a 10-character name. A byte above its limit means the data is not a DX7 voice.
PACKED_OPERATOR_MAX = (99,) * 11 + (15, 119, 31, 99, 63, 99)
PACKED_MAX = PACKED_OPERATOR_MAX * 6 + (99,) * 8 + (31, 15, 99, 99, 99, 99, 127, 48) + (127,) * 10
BULK_VOICES = 32
# A 32-voice bulk dump is 4,104 bytes; hexter's largest raw bank 16,384. 1 MB is 8,192 voices.
MAX_VOICE_FILE_BYTES = 1 << 20


def _bad_packed(voice: bytes) -> str | None:
    """Why 128 bytes are not a packed DX7 voice, or None if they are."""
    for i, (value, top) in enumerate(zip(voice, PACKED_MAX, strict=True)):
        if value > top:
            return f"byte {i} is {value}, expected 0..{top}"
    if ((voice[116] >> 1) & 7) > 5:
        return f"the LFO wave is {(voice[116] >> 1) & 7}, expected 0..5"
    return None


def _bad_voice(voice: bytes) -> str | None:
    """Why 155 bytes are not an unpacked DX7 voice, or None if they are."""
    for name, value in zip(NAMES, voice, strict=False):
        if value > MAXIMA[name]:
            return f"{name} is {value}, expected 0..{MAXIMA[name]}"
    if any(c > 127 for c in voice[145:155]):
        return "its name is not 7-bit text"
    return None


def _dexed():
    """dexed-py, imported when a voice is first read or played rather than with the plugin:
    every soundmatch command loads the plugins, and most play another synth."""
    import dexed

    return dexed


def _unpack(packed: bytes) -> bytes:
    return bytes(_dexed().Patch.from_packed(packed).to_sysex()[:VOICE_BYTES])


def _packed_voices(path: Path, data: bytes, where: str) -> list[bytes]:
    """Whole packed voices, each in range, or one line saying which is not."""
    if len(data) % PACKED_VOICE_BYTES:
        raise SoundmatchError(f"{path}: {where}{len(data):,} bytes, expected whole DX7 voices "
                              f"({PACKED_VOICE_BYTES} bytes each)")
    voices = [data[i:i + PACKED_VOICE_BYTES] for i in range(0, len(data), PACKED_VOICE_BYTES)]
    for n, voice in enumerate(voices):
        problem = _bad_packed(voice)
        if problem:
            raise SoundmatchError(f"{path}: voice {n + 1} is not DX7 voice data ({problem})")
    return [_unpack(v) for v in voices]


def read_voices(path: str | Path) -> list[bytes]:
    """The 155-byte voices in a DX7 file: a single-voice dump, a 32-voice bulk dump, or raw
    banks of packed voices (hexter's ``.dx7``, any number of 128-byte voices). The file is read
    only if it is a regular file of at most ``MAX_VOICE_FILE_BYTES``, and every voice is checked
    against the DX7's range for each byte before it is decoded: anything else is one line."""
    path = Path(path)
    data = read_bounded(path, MAX_VOICE_FILE_BYTES, "DX7 voice")
    if not data:
        raise SoundmatchError(f"{path}: empty, expected DX7 voice data")
    if data[:1] == b"\xF0":
        # Sysex: the first DX7 voice message among any others (librarians put a device inquiry
        # or a second bank first). F0 43 0n then 00 01 1B (one voice, 155 bytes) or 09 20 00
        # (32 packed voices, 4,096 bytes).
        for start in (i for i, byte in enumerate(data) if byte == 0xF0):
            if data[start + 1:start + 2] != b"\x43" or len(data) < start + 6:
                continue
            kind, body = data[start + 3:start + 6], data[start + 6:]
            if kind == SINGLE_VOICE_HEADER[3:] and len(body) >= VOICE_BYTES:
                problem = _bad_voice(body[:VOICE_BYTES])
                if problem:
                    raise SoundmatchError(f"{path}: not a DX7 voice ({problem})")
                return [body[:VOICE_BYTES]]
            if kind == b"\x09\x20\x00" and len(body) >= BULK_VOICES * PACKED_VOICE_BYTES:
                return _packed_voices(path, body[:BULK_VOICES * PACKED_VOICE_BYTES], "")
        raise SoundmatchError(f"{path}: a sysex file without a whole DX7 voice or 32-voice bank "
                              "(expected F0 43 0n 00 01 1B and 155 bytes, or F0 43 0n 09 20 00 "
                              "and 4,096)")
    return _packed_voices(path, data, "raw voice data of ")


def voice_values(voice: bytes) -> dict[str, float]:
    return {name: float(voice[i]) for i, name in enumerate(NAMES)}


MEMORY = "real-sounds.memory.pt"


class Dexed(SynthAdapter):
    """Dexed through dexed-py: deterministic, no tail between renders, GIL released."""

    default_spec = "dexed-small"
    search_spec = "dexed-voice"  # match searches the whole voice
    thread_safe = True  # one DexedSynth per thread, rendering in parallel
    renders_prefix = True  # dexed-py renders from a reset: a shorter render is the longer's start
    preset_suffix = ".syx"
    preset_suffixes = (".syx", ".dx7")
    file_options = ("base_voice",)
    max_preset_bytes = MAX_VOICE_FILE_BYTES

    def __init__(self, spec):
        super().__init__(spec)
        # The voice every patch is applied on top of: synth.options.base_voice (a .syx or .dx7
        # file, and base_voice_index in it), else dexed-py's INIT VOICE.
        self.synth = _dexed().DexedSynth(sample_rate=float(spec.render.sample_rate))
        base = option_path(spec, "base_voice")
        if base is not None:
            voices = read_voices(base)
            index = int(spec.options.get("base_voice_index", 0))
            if not 0 <= index < len(voices):
                raise SoundmatchError(f"{spec.source}: synth.options.base_voice_index: found "
                                      f"{index}, expected 0..{len(voices) - 1} ({base})")
            voice = voices[index]
        else:
            voice = bytes(_dexed().Patch().to_sysex()[:VOICE_BYTES])
        self._voice = bytearray(voice)
        self._loaded: bytes | None = None

    def default_presets(self) -> list[Path]:
        """The DX7 banks installed here: hexter's factory voices (Debian's ``hexter`` package),
        and the cartridges a Dexed install keeps, where found."""
        return [folder for folder in FACTORY_BANKS if folder.is_dir() and any(
            p.suffix.lower() in self.preset_suffixes for p in folder.iterdir())]

    def default_memory(self) -> Path | None:
        """569 real one-shots and the whole voices the search found for them, for dexed-voice
        (examples/taught/teach_dexed.sh): a match plays the voices of the 16 most like its input
        beside the factory voices."""
        path = Path(__file__).parent / MEMORY
        return path if path.is_file() else None

    def set_patch(self, patch):
        for name, value in patch.items():
            if name not in INDEX:
                raise SoundmatchError(f"dexed has no parameter '{name}' (its names are the DX7's:"
                                      f" op1_output_level, algorithm, ...)")
            self._voice[INDEX[name]] = int(min(max(round(float(value)), 0), MAXIMA[name]))

    def _load(self) -> bytes:
        voice = bytes(self._voice)
        if voice != self._loaded:
            self.synth.load_patch(_dexed().Patch.from_sysex(voice + b"\x3f"))
            self._loaded = voice
        return voice

    def get_patch(self) -> dict[str, float]:
        # What the engine was given, decoded back through dexed-py's own sysex reader (which
        # clamps and masks the way Dexed does).
        return voice_values(bytes(_dexed().Patch.from_sysex(self._load() + b"\x3f").to_sysex()))

    def parameter_names(self) -> set[str]:
        return set(NAMES)

    def transposed(self, patch, semitones):
        # The voice's own transpose (0..48, 24 plays a key as written): what Dexed and a DX7
        # show as "transpose", so the patch stays as it was otherwise.
        shifted = patch["transpose"] + semitones
        if not 0 <= shifted <= MAXIMA["transpose"]:
            return None
        return {**patch, "transpose": float(shifted)}

    def tuned(self, patch, cents):
        # Every operator in ratio mode raised by the same factor through its fine frequency
        # (a ratio is coarse x (1 + fine / 100)), so the voice keeps its harmonics; a flat
        # input is the key below raised (transpose - 1). Fixed-frequency operators follow no
        # key and stay. Fine moves in 1 % steps: the pitch is within 9 cents.
        patch = dict(patch)
        if cents < 0:
            if patch["transpose"] < 1:
                return None
            patch["transpose"] -= 1
            cents += 100.0
        factor = 2.0 ** (cents / 1200.0)
        for op in range(1, 7):
            if patch[f"op{op}_osc_mode"] == 0:
                fine = patch[f"op{op}_freq_fine"]
                patch[f"op{op}_freq_fine"] = float(
                    min(MAXIMA[f"op{op}_freq_fine"], round(((1 + fine / 100) * factor - 1) * 100)))
        return patch

    def render(self, note, velocity, samples: int | None = None) -> np.ndarray:
        r = self.spec.render
        n = r.num_samples if samples is None else samples
        # A sample more than asked: dexed-py rounds the duration down to whole samples.
        duration = r.duration if samples is None else (samples + 1) / r.sample_rate
        self._load()
        audio = self.synth.render(midi_note=int(note), velocity=int(velocity),
                                  note_duration=r.note_length, render_duration=duration)
        audio = np.asarray(audio, dtype=np.float32)[:n] * OUTPUT_GAIN
        if len(audio) < n:
            audio = np.pad(audio, (0, n - len(audio)))
        return audio

    def save_preset(self, path) -> Path:
        path = Path(path)
        voice = bytearray(self._load())
        name = f"SM {path.stem}"[:10].ljust(10).encode("ascii", "replace")
        voice[145:155] = name
        path.write_bytes(_single_voice_dump(bytes(voice)))
        return path

    def load_preset(self, path) -> dict[str, float]:
        return self.load_presets(path)[0]

    def load_presets(self, path) -> list[dict[str, float]]:
        return [voice_values(v) for v in read_voices(path)]


@hookimpl
def register_adapters(register):
    register("dexed", Dexed)


@hookimpl
def register_specs(register):
    for path in sorted(HERE.glob("*.yaml")):
        register(path.stem, path)
