"""Pitch detection for matching at the input's note (YIN: de Cheveigné and Kawahara, 2002).

A match plays at the input's pitch to the cent where the synth takes fractional notes (the nearest
note elsewhere). Noise, drums and most consonants have no pitch, and then the spec's note is used.

The period YIN finds is the sound's repetition rate, which is not always the note a player
pressed: two oscillators a fifth apart repeat an octave below the lower one, and a glockenspiel's
partials repeat at a third of its note. A synth plays a note with energy at that note, so where
the period's own partial is absent (``ABSENT_DB`` below the strongest), the pitch is that of the
lowest partial that is really there. On benchmarks/real-sounds this turned 4 octave errors of 62
pitched sounds into 3 (benchmarks/octaves.py): two organs whose 16-foot stop really
sounds an octave below the key, and the tubular bells, whose strike note has no partial.
"""

from __future__ import annotations

import math

import numpy as np

FMIN, FMAX = 30.0, 2000.0
THRESHOLD = 0.15      # YIN's aperiodicity threshold
MIN_VOICED = 0.3      # fraction of frames that must be periodic for a sound to count as pitched
ABSENT_DB = -40.0     # a partial this far below the strongest is missing (a virtual pitch)
PRESENT_DB = -20.0    # the lowest partial within this of the strongest is the note played


def detect_f0(audio: np.ndarray, rate: int, seconds: float = 1.0) -> float | None:
    """Median fundamental (Hz) over the periodic frames of the first ``seconds``, or None."""
    x = np.asarray(audio[: int(seconds * rate)], dtype=np.float64)
    frame = int(2 * rate / FMIN) // 2 * 2
    hop = frame // 4
    tau_min, tau_max = int(rate / FMAX), min(int(rate / FMIN), frame // 2)
    if len(x) <= frame:
        return None
    level = np.max(np.abs(x))
    frames = np.lib.stride_tricks.sliding_window_view(x, frame)[: len(x) - frame: hop]
    frames = frames[np.max(np.abs(frames), axis=1) >= 0.05 * level]  # too quiet to judge
    if len(frames) == 0:
        return None
    cmnd = _cmnd(frames, tau_max)
    f0s = [rate / tau for row in cmnd if (tau := _period(row, tau_min, tau_max)) is not None]
    if len(f0s) < MIN_VOICED * len(frames):
        return None
    return float(np.median(f0s))


def _cmnd(frames: np.ndarray, tau_max: int) -> np.ndarray:
    """YIN's cumulative mean normalised difference of each frame (a row each), for lags
    0..tau_max, all frames through one FFT."""
    length = frames.shape[1]
    w = length // 2
    # Difference function d(tau) = sum (x[j] - x[j+tau])^2 over a window of w, through the FFT.
    n = 1 << (2 * length - 1).bit_length()
    spec = np.fft.rfft(frames, n, axis=1)
    corr = np.fft.irfft(spec * np.conj(np.fft.rfft(frames[:, :w], n, axis=1)), n,
                        axis=1)[:, : tau_max + 1]
    energy = np.concatenate([np.zeros((len(frames), 1)), np.cumsum(frames**2, axis=1)], axis=1)
    taus = np.arange(tau_max + 1)
    d = energy[:, w:w + 1] + (energy[:, taus + w] - energy[:, taus]) - 2 * corr
    cmnd = np.ones_like(d)
    cumulative = np.cumsum(d[:, 1:], axis=1)
    cmnd[:, 1:] = d[:, 1:] * np.arange(1, tau_max + 1) / np.maximum(cumulative, 1e-12)
    return cmnd


def _period(cmnd: np.ndarray, tau_min: int, tau_max: int) -> float | None:
    """The first lag whose normalised difference dips under the threshold, walked down to its
    minimum and refined between samples; None for an aperiodic frame."""
    below = np.flatnonzero(cmnd[tau_min:] < THRESHOLD)
    if len(below) == 0:
        return None
    tau = tau_min + int(below[0])
    while tau + 1 <= tau_max and cmnd[tau + 1] < cmnd[tau]:
        tau += 1  # walk down to the local minimum
    if 1 <= tau < tau_max:  # parabolic interpolation for sub-sample precision
        a, b, c = cmnd[tau - 1], cmnd[tau], cmnd[tau + 1]
        denom = a - 2 * b + c
        if denom > 0:
            return tau + 0.5 * (a - c) / denom
    return float(tau)


def hz_to_midi(hz: float) -> float:
    return 69.0 + 12.0 * math.log2(hz / 440.0)


def lowest_partial(audio: np.ndarray, rate: int, f0: float, seconds: float = 1.0,
                   harmonics: int = 12) -> float:
    """``f0``, or where its own partial is absent, the lowest of its harmonics that is present
    (see the module's docstring)."""
    x = np.asarray(audio[: int(seconds * rate)], dtype=np.float64)
    n = 1 << max(17, (len(x) - 1).bit_length())  # bins of 0.34 Hz at 44.1 kHz or finer
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), n))
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    amps = []
    for k in range(1, harmonics + 1):
        band = (freqs > k * f0 * 0.97) & (freqs < k * f0 * 1.03)
        amps.append(float(spectrum[band].max()) if band.any() else 0.0)
    top = max(amps)
    if top <= 0 or amps[0] >= top * 10 ** (ABSENT_DB / 20):
        return f0
    k = next(k for k, a in enumerate(amps, 1) if a >= top * 10 ** (PRESENT_DB / 20))
    return k * f0


def detect_pitch(audio: np.ndarray, rate: int) -> float | None:
    """The sound's pitch as a fractional MIDI note (60.07 is C4 seven cents sharp), or None."""
    f0 = detect_f0(audio, rate)
    if f0 is None:
        return None
    return float(np.clip(hz_to_midi(lowest_partial(audio, rate, f0)), 0.0, 127.0))


def detect_note(audio: np.ndarray, rate: int) -> int | None:
    """The nearest MIDI note of the sound's pitch, or None if it has none."""
    pitch = detect_pitch(audio, rate)
    return None if pitch is None else round(pitch)
