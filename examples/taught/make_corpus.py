"""Build the real-sound training corpus (data/corpus/) that the taught model learns from.

    sudo apt-get install fluidsynth opl3-soundfont flite sonic-pi-samples lmms-common hydrogen-data
    python examples/taught/make_corpus.py [--out data/corpus]

Every sound is a one-shot as a user would bring it: mono 44.1 kHz FLAC, at most 4 s. The sources
are Debian packages that neither benchmark uses, so that the benchmark still measures how the
network does on sounds it never heard:
- opl3-soundfont's General-MIDI bank (OPL3 FM samples) through fluidsynth: every other program,
  twice, at notes 36-84, velocities 60-127 and held 0.3, 1 or 2 s;
- flite's voices (kal16, slt and rms) holding vowels and hums, on several pitches where the voice
  takes one;
- sonic-pi-samples' one-shots (loops and vinyl noises left out);
- lmms-common's samples: instruments, strings and pads, basses, drums, effects, misc, latin;
- hydrogen-data's drum kits (GMRockKit, TR808EmulationKit).
Kept out: what benchmarks/real-sounds is made of (csound-soundfont's GM bank, freepats, espeak-ng,
hydrogen-drumkits) and what the independent check is made of (FluidR3, MuseScore General,
TimGM6mb, espeak-ng). ``manifest.yaml`` says where every sound came from.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from make_real_sounds import (  # the benchmark's own helpers, shared
    RATE,
    held_note,
    one_shot,
    render_midi,
    write_flac,
    write_manifest,
)

from soundmatch.audio import read_audio

OPL3 = Path("/usr/share/sounds/sf2/OPL-3_FM_128M.sf2")
SONIC_PI = Path("/usr/share/sonic-pi/samples")
LMMS = Path("/usr/share/lmms/samples")
HYDROGEN = Path("/usr/share/hydrogen/data/drumkits")
LMMS_FOLDERS = ("instruments", "stringsnpads", "basses", "drums", "effects", "misc", "latin")
HYDROGEN_KITS = ("GMRockKit", "TR808EmulationKit")
SONIC_PI_LEFT_OUT = ("loop_", "vinyl_")
# (voice, Hz the voice is asked to hold, or None where it keeps its own intonation)
FLITE_VOICES = [("kal16", 100), ("kal16", 130), ("kal16", 165), ("slt", 185), ("slt", 220),
                ("slt", 262), ("rms", None)]
FLITE_TEXTS = ("ah", "ee", "oo", "oh", "mm", "eh")
AUDIO = (".flac", ".wav", ".ogg")


def opl3(wav: Path) -> list[str]:
    return ["fluidsynth", "-ni", "-g", "0.6", "-r", str(RATE), "-o", "synth.reverb.active=0",
            "-o", "synth.chorus.active=0", "-F", str(wav), str(OPL3)]


def flite(voice: str, text: str, hz: int | None, tmp: Path) -> Path:
    wav = tmp / "flite.wav"
    pitch = ([] if hz is None else
             ["--setf", f"int_f0_target_mean={hz}", "--setf", "int_f0_target_stddev=0"])
    subprocess.run(["flite", "-voice", voice, *pitch, "--setf", "duration_stretch=4",
                    "-t", text, "-o", str(wav)], check=True, capture_output=True)
    return wav


def sample_files() -> list[tuple[Path, str, str]]:
    """(file, category, package) of every sample one-shot the corpus takes."""
    found = [(p, p.name.split("_")[0], "sonic-pi-samples") for p in sorted(SONIC_PI.iterdir())
             if p.suffix in AUDIO and not p.name.startswith(SONIC_PI_LEFT_OUT)]
    for folder in LMMS_FOLDERS:
        found += [(p, folder, "lmms-common") for p in sorted((LMMS / folder).iterdir())
                  if p.suffix in AUDIO]
    for kit in HYDROGEN_KITS:
        found += [(p, "drums", "hydrogen-data") for p in sorted((HYDROGEN / kit).iterdir())
                  if p.suffix in AUDIO]
    return found


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("data/corpus"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    missing = [t for t in ("fluidsynth", "flite") if not shutil.which(t)]
    missing += [str(p) for p in (OPL3, SONIC_PI, LMMS, HYDROGEN) if not p.exists()]
    if missing:
        sys.exit(f"missing: {', '.join(missing)}; install the packages named in this script")
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    manifest = []

    def keep(name: str, audio: np.ndarray, **record) -> None:
        write_flac(args.out / f"{name}.flac", audio)
        manifest.append({"file": f"{name}.flac", **record})

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for program in range(0, 128, 2):
            for take in range(2):
                note, velocity = int(rng.integers(36, 85)), int(rng.integers(60, 128))
                gate = float(rng.choice([0.3, 1.0, 2.0]))
                audio = render_midi(opl3, program, note, velocity, tmp, gate)
                if np.max(np.abs(audio)) < 1e-3:
                    continue  # a program that does not sound at this note
                keep(f"opl3-{program:03d}-{take}", audio, category="opl3", note=note,
                     velocity=velocity, gate=gate,
                     source=f"opl3-soundfont OPL-3_FM_128M.sf2, GM program {program}")
        for voice, hz in FLITE_VOICES:
            for text in FLITE_TEXTS:
                gate = float(rng.choice([0.5, 1.0, 1.5]))
                audio = held_note(flite(voice, text, hz, tmp), gate, float(rng.uniform(0.2, 0.8)))
                keep(f"flite-{voice}-{hz or 'own'}-{text}", audio, category="voice", gate=gate,
                     source=f"flite voice {voice} saying '{text}'"
                     + (f" held at {hz} Hz" if hz else ""))
    for path, category, package in sample_files():
        audio, rate = read_audio(path)
        if audio.size == 0 or np.max(np.abs(audio)) < 1e-3:
            continue
        name = f"{package.split('-')[0]}-{path.parent.name}-{path.stem}".replace(" ", "_")
        keep(name, one_shot(audio, rate), category=category,
             source=f"{package} {path.relative_to(path.parents[1])}")
    write_manifest(args.out, "Real one-shots the taught model learns from, built by "
                   "examples/taught/make_corpus.py from Debian packages", manifest)


if __name__ == "__main__":
    main()
