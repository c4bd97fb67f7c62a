"""The shared feature function: shape, frequency axis, floor, batching."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torchaudio

from soundmatch import plugins, spectrum
from soundmatch.features import FeatureConfig, log_mel


def tone(hz, seconds=1.0, sr=44100):
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_shape_follows_the_config():
    config = FeatureConfig()
    assert config.shape(4 * 44100) == (64, 173)
    assert tuple(log_mel(np.zeros(4 * 44100, np.float32), config).shape) == (64, 173)


def test_higher_tones_land_in_higher_mel_bins():
    config = FeatureConfig()
    peaks = [int(log_mel(tone(hz), config).mean(dim=1).argmax()) for hz in (200, 1000, 5000)]
    assert peaks[0] < peaks[1] < peaks[2]


def test_silence_sits_at_the_log_floor():
    config = FeatureConfig()
    silent = log_mel(np.zeros(44100, np.float32), config)
    assert torch.allclose(silent, torch.full_like(silent, math.log(config.log_floor)))


def test_a_batch_gives_the_same_features_as_one_at_a_time():
    config = FeatureConfig(sample_rate=16000, n_fft=512, hop_length=256, n_mels=32)
    batch = np.stack([tone(300, sr=16000), tone(3000, sr=16000)])
    together = log_mel(batch, config)
    for i in range(2):
        assert torch.equal(together[i], log_mel(batch[i], config))


@pytest.mark.parametrize("config", [
    FeatureConfig(),
    FeatureConfig(sample_rate=16000, n_fft=512, hop_length=256, n_mels=32, f_min=30.0, f_max=7e3),
])
def test_features_are_torchaudios_mel_spectrogram_bit_for_bit(config, builtin_spec):
    """log_mel computes the power in its own loop (it is faster); every dataset rendered before
    must keep its bytes, so it must equal torchaudio's MelSpectrogram exactly."""
    synth = plugins.create_adapter(builtin_spec)
    rng = np.random.default_rng(0)
    audio = np.stack([synth.render_patch(builtin_spec.to_synth(u))
                      for u in builtin_spec.sample(rng, 3)]
                     + [(0.1 * rng.standard_normal(builtin_spec.render.num_samples))
                        .astype(np.float32)])
    reference = torchaudio.transforms.MelSpectrogram(
        sample_rate=config.sample_rate, n_fft=config.n_fft, hop_length=config.hop_length,
        n_mels=config.n_mels, f_min=config.f_min, f_max=config.f_max, power=2.0, center=True)
    with torch.no_grad():
        expected = torch.log(reference(torch.from_numpy(audio)).clamp_min(config.log_floor))
    assert torch.equal(log_mel(audio, config), expected)
    assert torch.equal(log_mel(audio[1], config), expected[1])


def test_config_round_trips_through_a_dict():
    config = FeatureConfig(sample_rate=22050, n_mels=128)
    assert FeatureConfig.from_dict(config.to_dict(), "test") == config


def test_both_ways_of_computing_the_power_round_as_torch_does():
    """spectrum.power runs a numba loop on a CPU and torch ops elsewhere: same bits either way."""
    rng = np.random.default_rng(0)
    audio = torch.from_numpy((0.3 * rng.standard_normal((2, 20000))).astype(np.float32))
    spec = torch.stft(audio, 512, 128, window=torch.hann_window(512), return_complex=True)
    expected = spec.abs().pow(2)
    assert torch.equal(spectrum.power(spec), expected)
    assert torch.equal(spectrum.power_torch(spec), expected)


def test_the_magnitude_rounds_as_torch_does_in_the_layout_torch_gives():
    """spectrum.magnitude reads an STFT as one flat run: |X| in double precision rounded once to
    float, laid out as ``abs`` lays it, for torch's frame-by-frame layout, a slice of it and a
    bin-by-bin copy alike."""
    rng = np.random.default_rng(1)
    audio = torch.from_numpy((0.3 * rng.standard_normal(30000)).astype(np.float32))
    spec = torch.stft(audio, 1024, 256, window=torch.hann_window(1024), return_complex=True)
    for s in (spec, spec[3:-2, 1:-1], spec.contiguous()):
        exact = torch.view_as_real(s).double().square().sum(-1).sqrt().float()
        got = spectrum.magnitude(s)
        assert torch.equal(got, exact) and got.stride() == s.abs().stride()


@pytest.mark.parametrize("samples", [129, 600, 1025, 4000, 44100])
def test_the_stft_pads_a_note_as_torch_does(samples):
    """spectrum.stft reflects a note's ends itself, rather than in torch.stft: the same STFT,
    to the bit, for one note and a batch, down to a note one sample longer than half the window
    (a shorter one gets torch.stft's own error)."""
    audio = np.random.default_rng(samples).standard_normal((2, samples)).astype(np.float32)
    for n_fft in (256, 2048):
        window = torch.hann_window(n_fft)
        for x in (audio[0], audio):
            if samples <= n_fft // 2:
                with pytest.raises(RuntimeError):
                    spectrum.stft(x, n_fft, n_fft // 4, window)
                continue
            expected = torch.stft(torch.from_numpy(x), n_fft, n_fft // 4, window=window,
                                  center=True, pad_mode="reflect", return_complex=True)
            assert torch.equal(spectrum.stft(x, n_fft, n_fft // 4, window), expected)
