"""How close two sounds, or two patches, are: every spectral distance soundmatch computes lives
here (the network's input features, a log-mel, are ``features.log_mel``).

- parameter MSE: on normalised parameters, as the paper reports it;
- spectral convergence (SC): ||S - Ŝ||_F / ||S||_F on the linear STFT magnitude, as the paper,
  each sound at its own level (``spectral_convergence``);
- multi-resolution log-spectral distance: mean |log S - log Ŝ| over several STFT sizes (natural
  log, so 0.1 is about 0.9 dB on average), floored 80 dB below the target's peak; it does not blow
  up on quiet targets as SC can (``SpectralDistance``, ``spectral_distance``);
- the match distance, what ``--refine`` minimises (``MatchDistance``): SC with the estimate at the
  gain closest to the target (the least-squares gain: SC then depends only on the angle between
  the two spectrograms) plus the log-mel L1 on an 80 dB range at that gain. A match is written
  at that gain, so this is the SC a user hears; the plain SC above is the paper's.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from .jit import njit
from .spectrum import magnitude, stft

RESOLUTIONS = (256, 1024, 4096)
SC_FFT = 2048
FLOOR_DB = -80.0


@functools.lru_cache(maxsize=8)
def _window(n_fft: int) -> torch.Tensor:
    return torch.hann_window(n_fft)


def _stft(audio, n_fft: int) -> torch.Tensor:
    """The complex STFT every distance here takes: a Hann window of ``n_fft``, a hop of a
    quarter of it, centred."""
    return stft(np.asarray(audio, dtype=np.float32), n_fft, n_fft // 4, _window(n_fft))


def _stft_mag(audio, n_fft: int) -> torch.Tensor:
    return magnitude(_stft(audio, n_fft))


def spectral_convergence(target, estimate, n_fft: int = SC_FFT) -> float:
    s, s_hat = _stft_mag(target, n_fft), _stft_mag(estimate, n_fft)
    return float(torch.linalg.norm(s - s_hat) / torch.linalg.norm(s).clamp_min(1e-12))


class SpectralDistance:
    """Distance from one target to many estimates (the target's spectra are computed once).

    Magnitudes are floored at ``FLOOR_DB`` below the target's peak at each resolution: what lies
    under the target's own noise floor is inaudible in it and should not steer a match.
    """

    def __init__(self, target, resolutions=RESOLUTIONS):
        self.resolutions = resolutions
        self.floors, self.logs = [], []
        for n_fft in resolutions:
            s = _stft_mag(target, n_fft)
            floor = max(float(s.max()) * 10 ** (FLOOR_DB / 20), 1e-8)
            self.floors.append(floor)
            self.logs.append(s.clamp_min_(floor).log_())

    def __call__(self, estimate) -> float:
        total = 0.0
        for n_fft, floor, log_s in zip(self.resolutions, self.floors, self.logs, strict=True):
            # In place: three fewer note-long arrays per resolution, the same bits.
            log_e = _stft_mag(estimate, n_fft).clamp_min_(floor).log_()
            total += float(log_e.sub_(log_s).abs_().mean())
        return total / len(self.resolutions)


def spectral_distance(target, estimate, resolutions=RESOLUTIONS) -> float:
    """Multi-resolution log-spectral distance (0 for identical sounds)."""
    return SpectralDistance(target, resolutions)(estimate)


# The match distance's STFT is the SC one (hop a quarter of it); its log-mel has 64 bands.
HOP, N_MELS = SC_FFT // 4, 64


@functools.lru_cache(maxsize=8)
def _mel_filters(rate: int) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """The match distance's mel filters (bands, bins), and the same as ``_band_ranges`` gives
    them: once per rate, since a match builds a distance for every input."""
    import torchaudio.functional as AF

    mel = AF.melscale_fbanks(SC_FFT // 2 + 1, 0.0, rate / 2, N_MELS, rate, mel_scale="htk").T
    return (mel, *_band_ranges(mel.numpy()))


def _band_ranges(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mel filters ``(bands, bins)`` as the bins each band covers: ``(first bin, end bin)`` per
    band and the band's weights over that range (one flat array, band after band). A triangular
    filter covers a few neighbouring bins, so projecting a frame is about two multiply-adds per
    bin rather than 64."""
    spans, flat = [], []
    for row in weights:
        nz = np.flatnonzero(row)
        first, end = (int(nz[0]), int(nz[-1]) + 1) if len(nz) else (0, 0)
        spans.append((first, end))
        flat.append(row[first:end])
    return np.array(spans, np.int64), np.concatenate(flat).astype(np.float32)


# fastmath without "nnan" and "ninf": a candidate that renders NaN or inf must stay detectable.
@njit(fastmath={"reassoc", "contract", "arcp", "nsz", "afn"}, error_model="numpy")
def _sc_logmel(pairs, s, s_norm, spans, weights, log_m, floor, least_squares):
    """Both terms of the match distance from one candidate's complex STFT, a frame at a time
    (torch lays a frame's bins side by side): (SC, mean log-mel L1, gain, energy gain); SC is
    NaN for a silent or non-finite candidate."""
    frames, bins = s.shape
    bands = spans.shape[0]
    mel_hat = np.empty((frames, bands), np.float32)
    row = np.empty(bins, np.float32)
    dot = 0.0
    power = 0.0
    for f in range(frames):
        frame_dot = 0.0
        frame_power = 0.0
        for b in range(bins):
            re = pairs[f, b, 0]
            im = pairs[f, b, 1]
            m = np.sqrt(re * re + im * im)
            row[b] = m
            frame_dot += np.float64(s[f, b]) * m
            frame_power += np.float64(m) * m
        dot += frame_dot
        power += frame_power
        at = 0
        for j in range(bands):
            acc = np.float32(0.0)
            first = spans[j, 0]
            for b in range(first, spans[j, 1]):
                acc += weights[at + b - first] * row[b]
            at += spans[j, 1] - first
            mel_hat[f, j] = acc
    norm = np.sqrt(power)
    if not np.isfinite(norm) or norm <= 0.0:
        return np.nan, np.nan, 1.0, 1.0
    energy_gain = s_norm / norm
    cos = dot / (s_norm * norm)
    sc = np.sqrt(max(0.0, 1.0 - cos * cos))
    gain = energy_gain * max(cos, 1e-3) if least_squares else energy_gain
    total = 0.0
    g = np.float32(gain)
    fl = np.float32(floor)
    for f in range(frames):
        for j in range(bands):
            total += abs(log_m[f, j] - np.log(max(g * mel_hat[f, j], fl)))
    return sc, total / log_m.size, gain, energy_gain


class MatchDistance:
    """Distance from one target to candidate renders, each heard at the input's level.

    ``__call__`` returns ``(distance, gain)``. ``gain`` is the level the match is written at:
    ``level="energy"`` the input's energy, ``"least-squares"`` the gain that minimises
    ||S - g Ŝ|| (quieter than the input by the cosine of that angle). Both terms hear the
    candidate at that gain, so the search scores what the user gets: SC (at the least-squares
    gain whatever the level, since SC depends only on the angle between the magnitude
    spectrograms) and the log-mel L1 (a near-silent candidate is scaled up first, so it is not
    rewarded for sitting under the floor).

    A candidate costs one STFT and one compiled pass over it (``_sc_logmel``): the search scores
    hundreds a second, and the same distance in a dozen torch calls (magnitude, dot product,
    norm, a dense mel projection, log, mean: ``reference_match_distance``) costs 1.4-1.5 times
    as long (benchmarks/search.py).
    """

    LEVELS = ("least-squares", "energy")
    # What the search minimises; "sc+logmel" was chosen on benchmarks/real_sounds.py (README).
    KINDS = ("sc+logmel", "sc", "logmel", "multires")

    def __init__(self, target: np.ndarray, rate: int, level: str = "least-squares",
                 kind: str = "sc+logmel", samples: int | None = None):
        if level not in self.LEVELS:
            raise ValueError(f"level: found {level!r}, expected one of {', '.join(self.LEVELS)}")
        if kind not in self.KINDS:
            raise ValueError(f"kind: found {kind!r}, expected one of {', '.join(self.KINDS)}")
        self.level, self.kind, self.rate, self.target = level, kind, rate, target
        mel, self.spans, self.weights = _mel_filters(rate)
        # Candidates are rendered and scored this long: the target's first ``samples``, where
        # the rest is silence. The log-mel term stays a mean over the whole target's frames,
        # the frames left out counted as matched (silence against silence): a shorter window
        # would otherwise weigh log-mel against SC differently (SC 0.414 -> 0.434 on 22 real
        # sounds on Dexed at equal renders, before this).
        whole = len(target)
        self.samples = whole if samples is None else min(whole, samples)
        target = target[:self.samples]
        self.l1_scale = (1 + self.samples // HOP) / (1 + whole // HOP)
        self.multires = SpectralDistance(target) if kind == "multires" else None
        s = _stft_mag(target, SC_FFT)
        self.s = np.ascontiguousarray(s.T.numpy())  # (frames, bins)
        # Not np.linalg.norm: its BLAS threads spin on both cores for a while after, and the
        # network that runs next took 40-90 ms instead of 15-25 (benchmarks/search.py, warm).
        s64 = self.s.astype(np.float64)
        self.s_norm = float(np.sqrt(np.einsum("ij,ij->", s64, s64))) or 1e-12
        m = mel @ s
        self.floor = max(float(m.max()) * 10 ** (FLOOR_DB / 20), 1e-10)
        self.log_m = np.ascontiguousarray(torch.log(m.clamp_min(self.floor)).T.numpy())

    def opening(self, seconds: float) -> MatchDistance | None:
        """The same distance on the target's first ``seconds`` alone, or None where that is not
        less than half of what this one scores: many starts are ranked on it first, cheaply."""
        samples = int(seconds * self.rate)
        if 2 * samples > self.samples:
            return None
        return MatchDistance(self.target[:samples], self.rate, self.level, self.kind)

    def __call__(self, audio: np.ndarray) -> tuple[float, float]:
        spec = _stft(audio, SC_FFT)
        # (bins, frames, 2) with the bins of a frame side by side in memory: read frame-major.
        pairs = torch.view_as_real(spec).numpy().transpose(1, 0, 2)
        sc, l1, gain, energy_gain = _sc_logmel(pairs, self.s, self.s_norm, self.spans,
                                               self.weights, self.log_m, self.floor,
                                               self.level == "least-squares")
        if not np.isfinite(sc):
            return 3.0, 1.0  # silence or garbage: worse than any real candidate
        l1 *= self.l1_scale
        if self.kind == "sc":
            return sc, gain
        if self.kind == "logmel":
            return l1, gain
        if self.kind == "multires":
            return self.multires(energy_gain * np.asarray(audio)), gain
        return sc + l1, gain


def reference_match_distance(distance: MatchDistance, estimate) -> tuple[float, float]:
    """What ``distance(estimate)`` gives (kind ``sc+logmel``), written plainly in torch ops from
    the target's spectra ``distance`` holds, as its docstring defines it (SC at the
    least-squares gain, as the norm of the difference): what the tests hold the compiled pass
    to, and what benchmarks/search.py times it against."""
    s = torch.from_numpy(distance.s).T  # (bins, frames)
    s_hat = _stft_mag(estimate, SC_FFT)
    mel = _mel_filters(distance.rate)[0]
    norm = torch.linalg.norm(s_hat)
    fit = float((s * s_hat).sum() / (norm * norm))  # the least-squares gain
    sc = float(torch.linalg.norm(s - fit * s_hat)) / distance.s_norm
    gain = fit if distance.level == "least-squares" else distance.s_norm / float(norm)
    log_m_hat = torch.log((gain * (mel @ s_hat)).clamp_min(distance.floor))
    l1 = float((torch.from_numpy(distance.log_m).T - log_m_hat).abs().mean())
    return sc + l1 * distance.l1_scale, gain


def parameter_mse(true, predicted) -> float:
    return float(np.mean((np.asarray(true) - np.asarray(predicted)) ** 2))
