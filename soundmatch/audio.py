"""Reading user audio into what a model expects: any format pedalboard reads (wav, flac, mp3, ogg,
aiff), any rate and channel count -> mono float32 at the spec's rate, leading silence trimmed,
fitted to the spec's duration. Every problem with a file is one clear error naming it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torchaudio.functional as AF
from pedalboard.io import AudioFile

from .errors import SoundmatchError, first_line
from .fileio import TMP_PREFIX, check_regular

MIN_SECONDS = 0.02
SILENCE_DB = -60.0
# Samples read from one file (all channels): 16M is over 5 minutes of stereo at 48 kHz, far past
# the seconds a match uses, and 64 MB as float32 whatever the file's header claims.
MAX_SAMPLES = 1 << 24
# A float file's samples beyond this (+60 dBFS) are not audio at some other scale but damage.
MAX_PEAK = 1000.0


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """(channels, samples) float32 and the file's sample rate."""
    path = Path(path)
    if not path.exists():
        raise SoundmatchError(f"{path}: no such file")
    check_regular(path, "audio")  # a FIFO or device would block or never end
    try:
        with AudioFile(str(path)) as f:
            rate = int(f.samplerate)
            frames = min(f.frames, MAX_SAMPLES // max(1, f.num_channels))
            audio = f.read(frames) if frames else np.zeros((f.num_channels, 0))
    except Exception as exc:  # pedalboard raises several types for unreadable input
        reason = first_line(exc)
        raise SoundmatchError(f"{path}: cannot read audio ({reason}); expected wav, flac, "
                              "mp3, ogg or aiff") from None
    audio = np.asarray(audio, dtype=np.float32)
    if audio.size and path.suffix.lower() == ".flac" and not np.any(audio):
        # pedalboard decodes a truncated FLAC as all zeros, start included. Real silence costs
        # FLAC almost nothing (a 4 s silent file is under 1 KB), so zeros from a file of real
        # size mean damage, not silence.
        raw_bytes = audio.size * 2
        if path.stat().st_size > 0.005 * raw_bytes + 2048:
            raise SoundmatchError(f"{path}: cannot decode (it holds {path.stat().st_size:,} "
                                  "bytes but decodes to silence: truncated or corrupt)")
    return audio, rate


def to_mono(audio: np.ndarray) -> np.ndarray:
    return audio.mean(axis=0) if audio.ndim == 2 else audio


def resample(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return audio.astype(np.float32, copy=False)
    return AF.resample(torch.from_numpy(np.ascontiguousarray(audio)), rate, target).numpy()


def peak_db(audio: np.ndarray) -> float:
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    return 20 * np.log10(peak) if peak > 0 else -np.inf


def _loud(audio: np.ndarray, threshold_db: float) -> np.ndarray:
    """Where the audio is within ``threshold_db`` of its peak (nowhere, in silence)."""
    magnitude = np.abs(audio)
    return magnitude > np.max(magnitude, initial=0.0) * 10 ** (threshold_db / 20)


def onset(audio: np.ndarray, rate: int, threshold_db: float = SILENCE_DB) -> int:
    """The first sample within ``threshold_db`` of the peak, less 5 ms."""
    return max(0, int(np.argmax(_loud(audio, threshold_db))) - int(0.005 * rate))


def sounding_length(audio: np.ndarray, rate: int, tail: float,
                    threshold_db: float = SILENCE_DB) -> int:
    """Samples up to the last one within ``threshold_db`` of the peak, plus ``tail`` seconds
    (at most the whole): how long the sound lasts, and a little of the silence after it."""
    loud = np.flatnonzero(_loud(audio, threshold_db))
    end = int(loud[-1]) + 1 if len(loud) else len(audio)
    return min(len(audio), end + round(tail * rate))


def trim_leading_silence(audio: np.ndarray, rate: int,
                         threshold_db: float = SILENCE_DB) -> np.ndarray:
    """Drop what comes before the onset, so a sound that starts late is matched from its onset,
    like the synth's notes."""
    return audio[onset(audio, rate, threshold_db):]


def fit_length(audio: np.ndarray, samples: int) -> np.ndarray:
    if len(audio) >= samples:
        return audio[:samples]
    return np.pad(audio, (0, samples - len(audio)))


def prepare(audio: np.ndarray, rate: int, target_rate: int, samples: int,
            source: str = "input") -> np.ndarray:
    """Mono, resampled, leading silence trimmed, fitted to ``samples``: ready for features."""
    return prepare_with_onset(audio, rate, target_rate, samples, source)[0]


def prepare_with_onset(audio: np.ndarray, rate: int, target_rate: int, samples: int,
                       source: str = "input") -> tuple[np.ndarray, int]:
    """``prepare``, and where (in samples at ``target_rate``) the trimmed sound began, so that a
    match can be written in time with the input."""
    mono = to_mono(np.asarray(audio, dtype=np.float32))
    if len(mono) == 0:
        raise SoundmatchError(f"{source}: empty audio (no samples)")
    if len(mono) < MIN_SECONDS * rate:
        raise SoundmatchError(f"{source}: {1000 * len(mono) / rate:.1f} ms of audio; "
                              f"expected at least {1000 * MIN_SECONDS:.0f} ms")
    if not np.all(np.isfinite(mono)):
        raise SoundmatchError(f"{source}: audio contains NaN or infinite samples")
    peak = float(np.max(np.abs(mono)))
    if peak > MAX_PEAK:
        raise SoundmatchError(f"{source}: samples reach {peak:.3g}, expected audio within "
                              f"±{MAX_PEAK:g} (full scale is 1)")
    if peak_db(mono) < SILENCE_DB:
        raise SoundmatchError(f"{source}: silent (peak {peak_db(mono):.0f} dBFS, below "
                              f"{SILENCE_DB:.0f} dBFS)")
    mono = resample(mono, rate, target_rate)
    start = onset(mono, target_rate)
    return fit_length(mono[start:], samples).astype(np.float32), start


def load(path: str | Path, target_rate: int, samples: int) -> np.ndarray:
    return load_with_onset(path, target_rate, samples)[0]


def load_with_onset(path: str | Path, target_rate: int, samples: int) -> tuple[np.ndarray, int]:
    audio, rate = read_audio(path)
    return prepare_with_onset(audio, rate, target_rate, samples, source=str(path))


def transpose(audio: np.ndarray, rate: int, semitones: int) -> np.ndarray:
    """Shift the pitch by resampling, so that the model hears the input at the note it was
    trained on. Timing scales by the same factor (2x for an octave); a phase vocoder keeps the
    timing but took ~8 s per 4 s input here, against milliseconds for this."""
    if semitones == 0 or abs(semitones) > 24:
        return audio
    factor = 2.0 ** (semitones / 12.0)
    # Playing back at rate*factor raises the pitch by `semitones`: resample rate*factor -> rate.
    # Rounded to 50 Hz so the rates share a large divisor: an arbitrary ratio makes torchaudio's
    # polyphase kernel huge (seconds per call); the pitch error stays under 0.002 semitones.
    new_rate = 50 * round(rate / factor / 50)
    shifted = AF.resample(torch.from_numpy(np.ascontiguousarray(audio)), rate, new_rate).numpy()
    return fit_length(shifted, len(audio))


def write_wav(path: str | Path, audio: np.ndarray, rate: int) -> Path:
    """Write float32 samples as 24-bit PCM (any format pedalboard writes). At 16 bits the
    quantisation noise (about -90 dBFS) would sit under a quiet match only 50-60 dB below its
    peak, within what a log-spectral comparison (or a listener turning it up) hears; 24 bits put
    it at -140 dBFS and every tool still reads the file, which float WAV does not promise."""
    audio = np.asarray(audio, dtype=np.float32)
    path = Path(path)
    # Whole or not at all: written beside under a name with the same suffix (which chooses the
    # format), then renamed over ``path``.
    tmp = path.with_name(f"{TMP_PREFIX}{os.getpid()}.{path.name}")
    try:
        with AudioFile(str(tmp), "w", rate, 1 if audio.ndim == 1 else audio.shape[0],
                       bit_depth=24) as f:
            f.write(audio[None, :] if audio.ndim == 1 else audio)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
