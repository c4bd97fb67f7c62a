"""Training augmentations: what real recordings have and a synth's renders lack, applied to the
log-mel features themselves (``train --augment``).

They work on the features rather than on audio so that every dataset can be augmented, including
the ones rendered without audio (all of them by default: audio is 40 times larger), and so that
they cost microseconds per example. Each acts on mel power, where its physics is simple:
- ``level``: the recording is louder or quieter (a constant in log power);
- ``tilt``: a microphone, a room or an EQ tilts the spectrum (dB per octave around 1 kHz);
- ``noise``: a noise floor under the sound (white to pink, 50-90 dB under its peak), added as power;
- ``room``: reverberation, as power decaying exponentially after each frame (RT60 0.2-1.5 s);
- ``onset``: the sound starts a few frames late (a trimmed recording's onset is never exact);
- ``detune``: the note the network is told is off by up to half a semitone (a detected pitch, a
  sample slightly out of tune).
Each is applied to an example with probability ``P``, independently.
"""

from __future__ import annotations

import math

import torch

from .errors import SoundmatchError
from .features import FeatureConfig, _filters

NAMES = ("level", "tilt", "noise", "room", "onset", "detune")
P = 0.5
DB = math.log(10) / 10  # one dB in natural-log power


def parse(text: str | tuple[str, ...] | None) -> tuple[str, ...]:
    """``--augment``: a comma-separated list of NAMES, ``all`` or ``none``."""
    if text is None:
        return ()
    items = text if isinstance(text, tuple) else tuple(text.split(","))
    items = tuple(i.strip() for i in items if i.strip())
    if items == ("none",):
        return ()
    if items == ("all",):
        return NAMES
    unknown = [i for i in items if i not in NAMES]
    if unknown:
        raise SoundmatchError(f"--augment: found '{unknown[0]}', expected all, none or some of "
                              f"{', '.join(NAMES)}")
    return tuple(n for n in NAMES if n in items)


class Augment:
    """``augment(features, notes, generator)`` -> augmented copies, for a batch of natural-log
    mel power (batch, n_mels, frames) and the notes (batch,) the network is told."""

    def __init__(self, names: tuple[str, ...], config: FeatureConfig):
        self.names = names
        self.config = config
        self.floor = math.log(config.log_floor)
        _, filterbank = _filters(config)  # (freqs, n_mels)
        freqs = torch.linspace(0, config.sample_rate / 2, filterbank.shape[0])
        weight = filterbank.sum(0).clamp_min(1e-6)
        self.centres = ((filterbank * freqs[:, None]).sum(0) / weight).clamp_min(50.0)
        self.band_width = weight  # white noise's power in each band, up to a constant
        self.frame_seconds = config.hop_length / config.sample_rate

    def __bool__(self) -> bool:
        return bool(self.names)

    def __call__(self, x: torch.Tensor, note: torch.Tensor,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        batch = x.shape[0]

        def chosen() -> torch.Tensor:
            return (torch.rand(batch, generator=generator) < P).to(x.dtype)

        def uniform(lo: float, hi: float) -> torch.Tensor:
            return lo + (hi - lo) * torch.rand(batch, generator=generator, dtype=x.dtype)

        x = x.clone()
        if "room" in self.names:
            x = self._room(x, chosen(), uniform(0.2, 1.5), uniform(0.05, 0.5))
        if "tilt" in self.names:
            octaves = torch.log2(self.centres / 1000.0).to(x.dtype)
            x += (chosen() * uniform(-3.0, 3.0) * DB)[:, None, None] * octaves[None, :, None]
        if "level" in self.names:
            x += (chosen() * uniform(-20.0, 6.0) * DB)[:, None, None]
        if "noise" in self.names:
            x = self._noise(x, chosen(), uniform(-90.0, -50.0), uniform(0.0, 1.0))
        if "onset" in self.names:
            x = self._onset(x, (chosen() * torch.randint(1, 4, (batch,), generator=generator)))
        if "detune" in self.names:
            note = note + chosen().to(note.dtype) * uniform(-0.5, 0.5).to(note.dtype)
        return x.clamp_min(self.floor), note

    def _noise(self, x, on, level_db, pinkness):
        """Noise ``level_db`` under the loudest band, white (0) to pink (1), added as power."""
        shape = self.band_width[None, :] * (self.centres[None, :] / 1000.0) ** -pinkness[:, None]
        shape = shape / shape.amax(dim=1, keepdim=True)
        peak = x.amax(dim=(1, 2))
        noise = torch.log(shape) + (peak + level_db * DB)[:, None]
        with_noise = torch.logaddexp(x, noise[:, :, None])
        return torch.where(on[:, None, None] > 0, with_noise, x)

    def _room(self, x, on, rt60, wet):
        """Each frame's power decaying 60 dB over ``rt60`` seconds, ``wet`` of the dry energy:
        the power convolved along time with an exponential tail (by FFT, all frames at once)."""
        frames = x.shape[-1]
        decay = 10.0 ** (-6.0 * self.frame_seconds / rt60)  # per frame, in power
        lags = torch.arange(frames, dtype=x.dtype)
        tail = decay[:, None] ** lags[None, :]
        tail[:, 0] = 0.0
        tail = tail * (wet / tail.sum(dim=1).clamp_min(1e-12))[:, None]
        tail[:, 0] = 1.0  # the dry sound itself
        n = 2 * frames
        power = torch.exp(x)
        out = torch.fft.irfft(torch.fft.rfft(power, n) * torch.fft.rfft(tail, n)[:, None, :], n)
        reverberant = torch.log(out[..., :frames].clamp_min(1e-30))
        return torch.where(on[:, None, None] > 0, reverberant, x)

    def _onset(self, x, frames):
        """Each example ``frames`` later (0: as it was), the floor before it."""
        t = torch.arange(x.shape[-1])
        source = t[None, :] - frames[:, None].long()
        shifted = torch.gather(x, 2, source.clamp_min(0)[:, None, :].expand_as(x))
        return torch.where((source < 0)[:, None, :], torch.full_like(x, self.floor), shifted)
