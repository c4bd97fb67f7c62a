"""Morphing wavetables for the built-in synth, built band-limited for each note.

A table is a list of frames, each a harmonic spectrum; a position in [0, 1] blends the two nearest
frames. Building the single-cycle wave per render (an inverse FFT of a few hundred harmonics) keeps
every note free of aliasing at any pitch for the cost of a few microseconds.
"""

from __future__ import annotations

import numpy as np

TABLE_SIZE = 2048
MAX_HARMONICS = TABLE_SIZE // 2 - 1


def unit(value: float) -> float:
    """``value`` clipped to [0, 1] (NaN stays NaN, as with np.clip): a Python float, cheaply."""
    return min(max(float(value), 0.0), 1.0)


def _frames(h: np.ndarray) -> np.ndarray:
    """Sine-series amplitudes per frame, shape (frames, len(h)). Ordered dark to bright so that the
    position parameter moves smoothly from a pure tone to a buzzy one."""
    odd = (h % 2 == 1).astype(np.float64)
    sign = np.where(((h - 1) // 2) % 2 == 0, 1.0, -1.0)
    frames = [
        (h == 1).astype(np.float64),                                  # sine
        odd * sign / h**2,                                            # triangle
        odd / h,                                                      # square
        1.0 / h,                                                      # saw
        np.abs(np.sin(np.pi * h * 0.25)) / h,                         # pulse-like, 25 %
        np.exp(-0.5 * ((h - 6.0) / 1.5) ** 2) + 0.15 / h,             # vowel-like formant
        np.abs(np.sin(np.pi * h * 0.1)) / h + 0.3 * (h == 1),         # narrow pulse
        1.0 / np.sqrt(h),                                             # buzz, brighter than saw
    ]
    out = np.stack(frames)
    return out / np.abs(out).sum(axis=1, keepdims=True)


NUM_FRAMES = len(_frames(np.arange(1, 3)))
_ALL = _frames(np.arange(1, MAX_HARMONICS + 1, dtype=np.float64))


def single_cycle(position: float, frequency: float, sample_rate: int) -> np.ndarray:
    """One period (TABLE_SIZE + 1 samples, the last repeating the first) of the wave at
    ``position``, with only the harmonics below Nyquist at ``frequency``, peak-normalised."""
    x = unit(position) * (NUM_FRAMES - 1)
    i = min(int(x), NUM_FRAMES - 2)
    frac = x - i
    amps = (1.0 - frac) * _ALL[i] + frac * _ALL[i + 1]
    keep = int(min(MAX_HARMONICS, max(1, (0.5 * sample_rate * 0.95) // max(frequency, 1e-3))))
    spectrum = np.zeros(TABLE_SIZE // 2 + 1, dtype=np.complex128)
    spectrum[1 : keep + 1] = -0.5j * TABLE_SIZE * amps[:keep]
    wave = np.fft.irfft(spectrum, TABLE_SIZE)
    peak = np.abs(wave).max()
    wave = wave / peak if peak > 0 else wave
    return np.append(wave, wave[0]).astype(np.float64)
