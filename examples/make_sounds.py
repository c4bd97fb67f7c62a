"""Make the example sounds in examples/sounds/ (run from the repository root):

    python examples/make_sounds.py

- builtin-*.wav: the built-in synth playing patches no model was trained on (seed 2026; the
  datasets use seeds 0..), at three notes: in-domain targets whose true parameters are known.
- pluck-a3.wav: a plucked string from a Karplus-Strong model (48 kHz stereo, so matching also
  exercises resampling and the mix-down): a sound the synth did not make.
- hat.wav: a filtered noise burst with no pitch: matching falls back to the spec's note.
- bell-e4.wav: a struck bar from a modal model (inharmonic partials, each with its own decay):
  a spectrum no two-oscillator subtractive patch has.
- voice-ah.wav, voice-oo.wav: sung vowels from Debian's espeak-ng (a formant synthesiser), like a
  vocal imitation a musician might hum into soundmatch. Made only where espeak-ng is installed.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import yaml

from soundmatch import plugins
from soundmatch.audio import write_wav

OUT = Path(__file__).parent / "sounds"


def karplus_strong(hz: float, seconds: float, rate: int, seed: int = 1) -> np.ndarray:
    period = round(rate / hz)
    buf = np.random.default_rng(seed).uniform(-1, 1, period)
    out = np.empty(int(seconds * rate))
    for i in range(len(out)):
        out[i] = buf[i % period]
        # averaging two neighbours is the string's loss; 0.99 sets the decay (about 1.5 s)
        buf[i % period] = 0.99 * 0.5 * (buf[i % period] + buf[(i + 1) % period])
    return 0.5 * out / np.abs(out).max()


def hat(seconds: float, rate: int) -> np.ndarray:
    n = int(seconds * rate)
    noise = np.random.default_rng(7).standard_normal(n)
    bright = np.diff(noise, prepend=0.0)  # a first difference tilts the noise towards highs
    env = np.exp(-np.arange(n) / (0.06 * rate))
    return 0.4 * bright * env / np.abs(bright).max()


def bell(hz: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    # (frequency ratio, level, decay time): the modes of a free bar, roughly
    modes = ((1.0, 1.0, 1.2), (2.76, 0.6, 0.6), (5.40, 0.35, 0.3), (8.93, 0.2, 0.15))
    out = sum(level * np.sin(2 * np.pi * hz * ratio * t) * np.exp(-t / decay)
              for ratio, level, decay in modes)
    return 0.5 * out / np.abs(out).max()


def espeak(text: str, path: Path) -> bool:
    """Sing ``text`` with espeak-ng on one level pitch (SSML prosody range 0; about 178 Hz);
    False where espeak-ng is missing."""
    if not shutil.which("espeak-ng"):
        return False
    ssml = f'<speak><prosody pitch="50" range="0">{text}</prosody></speak>'
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "voice.wav"
        subprocess.run(["espeak-ng", "-m", "-v", "en+f3", "-s", "60", "-w", str(raw), ssml],
                       check=True)
        shutil.copyfile(raw, path)
    return True


def main() -> None:
    OUT.mkdir(exist_ok=True)
    spec = plugins.resolve_spec("builtin")
    synth = plugins.create_adapter(spec)
    truth = {}
    patches = spec.sample(np.random.default_rng(2026), 3)
    for (name, note), u in zip((("a", 60), ("b", 55), ("c", 67)), patches, strict=True):
        audio = synth.render_patch(spec.to_synth(u), note=note)
        write_wav(OUT / f"builtin-{name}.wav", audio, spec.render.sample_rate)
        truth[f"builtin-{name}.wav"] = {"note": note, "parameters": {
            p.name: round(float(p.denormalise(x)), 6) for p, x in zip(spec.parameters, u,
                                                                      strict=True)}}
    # The other pitched sounds' notes, for the test that every example plays in tune.
    truth["pluck-a3.wav"] = {"note": 57}
    truth["bell-e4.wav"] = {"note": 64}
    pluck = karplus_strong(220.0, 2.5, 48000)
    write_wav(OUT / "pluck-a3.wav", np.stack([pluck, 0.8 * pluck]).astype(np.float32), 48000)
    write_wav(OUT / "hat.wav", hat(1.0, 44100).astype(np.float32), 44100)
    write_wav(OUT / "bell-e4.wav", bell(329.63, 3.0, 44100).astype(np.float32), 44100)
    for vowel, text in (("ah", "aaaah"), ("oo", "ooooo")):
        if not espeak(text, OUT / f"voice-{vowel}.wav"):
            print(f"espeak-ng is not installed: kept voice-{vowel}.wav as it is")
    (OUT / "truth.yaml").write_text(yaml.safe_dump(truth, sort_keys=False))


if __name__ == "__main__":
    main()
