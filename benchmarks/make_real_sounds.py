"""Build the real-sound benchmark set (benchmarks/real-sounds/) from Debian's packages.

    sudo apt-get install fluidsynth timidity freepats csound-soundfont espeak-ng hydrogen-drumkits
    python benchmarks/make_real_sounds.py

Every sound is a one-shot as a user would bring it: mono 44.1 kHz FLAC, 4 s, the note held 1 s
(the drum hits as recorded). Sources, chosen to stay apart from the banks of the independent check
(FluidR3, MuseScore, TimGM6mb are never used here):
- csound-soundfont's General-MIDI bank (sf_GMbank.sf2) through fluidsynth, reverb and chorus off;
- freepats (GUS patches) through timidity;
- espeak-ng singing vowels and hums on one level pitch (SSML prosody range 0), several voices;
- hydrogen-drumkits: single hits from several kits.
Notes span MIDI 36-84 and velocities 64-120. ``manifest.yaml`` records each sound's source, note
and category, so the benchmark can play the sawtooth baseline at the true pitch.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

from soundmatch.audio import read_audio, resample, to_mono
from soundmatch.pitch import detect_f0, hz_to_midi

OUT = Path(__file__).parent / "real-sounds"
RATE = 44100
SECONDS = 4.0
GATE = 1.0
SF2 = Path("/usr/share/sounds/sf2/sf_GMbank.sf2")
FREEPATS = Path("/etc/timidity/freepats.cfg")
DRUMKITS = Path("/usr/share/hydrogen/data/drumkits")

# (name, category, GM program, MIDI note, velocity)
SOUNDFONT = [
    ("sf-piano", "keys", 0, 48, 110), ("sf-epiano", "keys", 4, 60, 80),
    ("sf-harpsichord", "keys", 6, 67, 100), ("sf-organ", "organ", 16, 55, 100),
    ("sf-church-organ", "organ", 19, 43, 100), ("sf-vibraphone", "mallets", 11, 72, 90),
    ("sf-marimba", "mallets", 12, 60, 110), ("sf-tubular-bells", "mallets", 14, 67, 100),
    ("sf-glockenspiel", "mallets", 9, 79, 90), ("sf-celesta", "mallets", 8, 72, 80),
    ("sf-nylon-guitar", "plucks", 24, 52, 100), ("sf-steel-guitar", "plucks", 25, 59, 80),
    ("sf-harp", "plucks", 46, 64, 100), ("sf-pizzicato", "plucks", 45, 57, 110),
    ("sf-finger-bass", "bass", 33, 36, 110), ("sf-synth-bass", "bass", 38, 40, 100),
    ("sf-acoustic-bass", "bass", 32, 43, 90), ("sf-violin", "strings", 40, 69, 100),
    ("sf-cello", "strings", 42, 48, 90), ("sf-strings", "strings", 48, 60, 80),
    ("sf-slow-strings", "strings", 49, 55, 100), ("sf-trumpet", "brass", 56, 67, 110),
    ("sf-trombone", "brass", 57, 53, 90), ("sf-brass", "brass", 61, 60, 110),
    ("sf-french-horn", "brass", 60, 55, 80), ("sf-alto-sax", "wind", 65, 61, 100),
    ("sf-oboe", "wind", 68, 70, 90), ("sf-clarinet", "wind", 71, 58, 100),
    ("sf-flute", "wind", 73, 74, 80), ("sf-square-lead", "synth", 80, 60, 100),
    ("sf-saw-lead", "synth", 81, 64, 110), ("sf-pad-new-age", "synth", 88, 57, 90),
    ("sf-pad-warm", "synth", 89, 48, 100), ("sf-polysynth", "synth", 90, 62, 100),
    ("sf-choir-aahs", "choir", 52, 60, 100), ("sf-voice-oohs", "choir", 53, 65, 90),
]
FREEPATS_SOUNDS = [
    ("fp-piano", "keys", 0, 72, 100), ("fp-rhodes", "keys", 4, 55, 90),
    ("fp-xylophone", "mallets", 13, 76, 100), ("fp-hammond", "organ", 16, 48, 110),
    ("fp-accordion", "organ", 21, 62, 90), ("fp-clean-guitar", "plucks", 27, 47, 100),
    ("fp-fretless-bass", "bass", 35, 38, 100), ("fp-violin", "strings", 40, 76, 90),
    ("fp-trumpet", "brass", 56, 58, 100), ("fp-tenor-sax", "wind", 66, 50, 100),
    ("fp-flute", "wind", 73, 84, 64), ("fp-halo-pad", "synth", 94, 52, 100),
    ("fp-steel-drums", "mallets", 114, 69, 100), ("fp-square", "synth", 80, 45, 100),
]
# (name, espeak voice, text, SSML pitch 0-100)
VOICES = [
    ("voice-ah-f", "en+f3", "aaaaah", 50), ("voice-ee-f", "en+f2", "eeeeee", 60),
    ("voice-oo-m", "en+m3", "oooooo", 30), ("voice-oh-m", "en+m1", "ohhhhh", 20),
    ("voice-ah-m", "en+m2", "aaaaah", 40), ("hum-mm-f", "en+f4", "mmmmmm", 70),
    ("hum-mm-m", "en+m3", "mmmmmm", 25), ("voice-eh-de", "de", "eeeeeh", 45),
    ("voice-oo-f", "en+f3", "oooooo", 80), ("hum-nn-f", "en+f1", "nnnnnn", 55),
]
# (name, kit file under DRUMKITS)
DRUMS = [
    ("drum-kick", "ElectricEmpireKit/EE_Kick_Hard_1.flac"),
    ("drum-snare", "ColomboAcousticDrumkit/snare-opaque-2mics_normal-shot1.flac"),
    ("drum-hihat", "ColomboAcousticDrumkit/hihat-closed-1.flac"),
    ("drum-tom", "Audiophob/101450__menegass__tomh.wav"),
    ("drum-crash", "ColomboAcousticDrumkit/crash16i__crash1.flac"),
    ("drum-clap", "ElectricEmpireKit/EE_Clap.flac"),
]


def _vlq(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def midi_file(program: int, note: int, velocity: int, gate: float = GATE) -> bytes:
    """A one-note Standard MIDI File: program change, note held ``gate`` s, silence to SECONDS."""
    ticks_per_second = 960  # 480 per quarter at the default 120 bpm
    on, off = 0, int(gate * ticks_per_second)
    end = int(SECONDS * ticks_per_second)
    events = (_vlq(0) + bytes([0xC0, program]) + _vlq(on) + bytes([0x90, note, velocity])
              + _vlq(off) + bytes([0x80, note, 0])
              + _vlq(end - off) + bytes([0xB0, 0x07, 100])  # keeps the player going to the end
              + _vlq(0) + b"\xff\x2f\x00")
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480)
    return header + b"MTrk" + struct.pack(">I", len(events)) + events


def one_shot(audio: np.ndarray, rate: int) -> np.ndarray:
    mono = resample(to_mono(audio), rate, RATE)
    n = int(SECONDS * RATE)
    mono = np.pad(mono, (0, max(0, n - len(mono))))[:n]
    peak = float(np.max(np.abs(mono)))
    return (mono * (0.95 / peak) if peak > 0.95 else mono).astype(np.float32)


def render_midi(command: list[str], program: int, note: int, velocity: int, tmp: Path,
                gate: float = GATE):
    mid, wav = tmp / "note.mid", tmp / "note.wav"
    mid.write_bytes(midi_file(program, note, velocity, gate))
    subprocess.run([*command(wav), str(mid)], check=True, capture_output=True)
    return one_shot(*read_audio(wav))


def fluidsynth(wav: Path) -> list[str]:
    return ["fluidsynth", "-ni", "-g", "0.6", "-r", str(RATE), "-o", "synth.reverb.active=0",
            "-o", "synth.chorus.active=0", "-F", str(wav), str(SF2)]


def timidity(wav: Path) -> list[str]:
    return ["timidity", "-c", str(FREEPATS), "-Ow", "-s", str(RATE), "-o", str(wav)]


def sing(voice: str, text: str, pitch: int, tmp: Path) -> np.ndarray:
    wav = tmp / "voice.wav"
    ssml = f'<speak><prosody pitch="{pitch}" range="0">{text}</prosody></speak>'
    subprocess.run(["espeak-ng", "-m", "-v", voice, "-s", "60", "-w", str(wav), ssml],
                   check=True, capture_output=True)
    return held_note(wav)


def held_note(wav: Path, gate: float = GATE, level: float = 0.5) -> np.ndarray:
    """A sung or spoken file as a one-shot: from its onset, ``gate`` s long, peak ``level``."""
    audio, rate = read_audio(wav)
    mono = resample(to_mono(audio), rate, RATE)
    onset = int(np.argmax(np.abs(mono) > 0.05 * np.max(np.abs(mono))))
    held = mono[onset:onset + int(gate * RATE)].copy()
    fade = min(int(0.05 * RATE), len(held))  # a sung note ends in a short release, not a click
    held[len(held) - fade:] *= np.linspace(1.0, 0.0, fade)
    return one_shot((level / np.max(np.abs(held)) * held)[None, :], RATE)


def write_flac(path: Path, audio: np.ndarray) -> None:
    from pedalboard.io import AudioFile

    with AudioFile(str(path), "w", RATE, 1, bit_depth=16) as f:
        f.write(audio[None, :])


def write_manifest(out: Path, description: str, sounds: list[dict]) -> None:
    (out / "manifest.yaml").write_text(yaml.safe_dump(
        {"description": description, "sounds": sounds}, sort_keys=False))
    print(f"{len(sounds)} sounds in {out}")


def main() -> None:
    missing = [t for t in ("fluidsynth", "timidity", "espeak-ng") if not shutil.which(t)]
    missing += [str(p) for p in (SF2, FREEPATS, DRUMKITS) if not p.exists()]
    if missing:
        sys.exit(f"missing: {', '.join(missing)}; install the packages named in this script")
    OUT.mkdir(exist_ok=True)
    manifest = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for table, command, package in ((SOUNDFONT, fluidsynth, "csound-soundfont"),
                                        (FREEPATS_SOUNDS, timidity, "freepats")):
            for name, category, program, note, velocity in table:
                audio = render_midi(command, program, note, velocity, tmp)
                write_flac(OUT / f"{name}.flac", audio)
                manifest.append({"file": f"{name}.flac", "category": category, "note": note,
                                 "velocity": velocity, "source": f"{package}, GM program "
                                 f"{program}"})
        for name, voice, text, pitch in VOICES:
            audio = sing(voice, text, pitch, tmp)
            write_flac(OUT / f"{name}.flac", audio)
            f0 = detect_f0(audio, RATE)
            manifest.append({"file": f"{name}.flac", "category": "voice",
                             "note": round(hz_to_midi(f0), 2) if f0 else None,
                             "source": f"espeak-ng voice {voice} singing '{text}' at SSML "
                                       f"pitch {pitch}"})
        for name, kit_file in DRUMS:
            write_flac(OUT / f"{name}.flac", one_shot(*read_audio(DRUMKITS / kit_file)))
            manifest.append({"file": f"{name}.flac", "category": "drums", "note": None,
                             "source": f"hydrogen-drumkits {kit_file}"})
    write_manifest(OUT, "Real one-shots for benchmarks/real_sounds.py, built by "
                   "benchmarks/make_real_sounds.py from Debian packages", manifest)


if __name__ == "__main__":
    main()
