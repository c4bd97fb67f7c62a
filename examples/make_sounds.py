"""Make the example sounds in examples/sounds/ (run from the repository root):

    python examples/make_sounds.py

- builtin-*.wav: the built-in synth playing patches no model was trained on (seed 2026; the
  datasets use seeds 0..), at three notes: in-domain targets whose true parameters are known.
- pluck-a3.wav: a plucked string from a Karplus-Strong model (48 kHz stereo, so matching also
  exercises resampling and the mix-down): a sound the synth did not make.
- hat.wav: a filtered noise burst with no pitch: matching falls back to the spec's note.
"""

from __future__ import annotations

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
    pluck = karplus_strong(220.0, 2.5, 48000)
    write_wav(OUT / "pluck-a3.wav", np.stack([pluck, 0.8 * pluck]).astype(np.float32), 48000)
    write_wav(OUT / "hat.wav", hat(1.0, 44100).astype(np.float32), 44100)
    (OUT / "truth.yaml").write_text(yaml.safe_dump(truth, sort_keys=False))


if __name__ == "__main__":
    main()
