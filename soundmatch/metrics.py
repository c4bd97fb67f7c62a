"""How close two sounds, or two patches, are.

- parameter MSE: on normalised parameters, as the paper reports it;
- spectral convergence (SC): ||S - Ŝ||_F / ||S||_F on the linear STFT magnitude, as the paper;
- multi-resolution log-spectral distance: mean |log S - log Ŝ| over several STFT sizes (natural
  log, so 0.1 is about 0.9 dB on average), floored 80 dB below the target's peak; it does not blow
  up on quiet targets as SC can. (``--refine`` minimises ``search.MatchDistance``, SC plus log-mel
  L1 at the input's level; this one is reported beside it.)
"""

from __future__ import annotations

import numpy as np
import torch

from .spectrum import magnitude

RESOLUTIONS = (256, 1024, 4096)
SC_FFT = 2048
FLOOR_DB = -80.0


def _stft_mag(audio, n_fft: int) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(audio, dtype=np.float32))
    window = torch.hann_window(n_fft)
    return magnitude(torch.stft(x, n_fft, hop_length=n_fft // 4, window=window,
                                return_complex=True))


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
            self.logs.append(torch.log(s.clamp_min(floor)))

    def __call__(self, estimate) -> float:
        total = 0.0
        for n_fft, floor, log_s in zip(self.resolutions, self.floors, self.logs, strict=True):
            log_e = torch.log(_stft_mag(estimate, n_fft).clamp_min(floor))
            total += float((log_s - log_e).abs().mean())
        return total / len(self.resolutions)


def spectral_distance(target, estimate, resolutions=RESOLUTIONS) -> float:
    """Multi-resolution log-spectral distance (0 for identical sounds)."""
    return SpectralDistance(target, resolutions)(estimate)


def parameter_mse(true, predicted) -> float:
    return float(np.mean((np.asarray(true) - np.asarray(predicted)) ** 2))
