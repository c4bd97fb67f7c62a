"""The shared feature function: shape, frequency axis, floor, batching."""

from __future__ import annotations

import math

import numpy as np
import torch

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
        torch.testing.assert_close(together[i], log_mel(batch[i], config), atol=1e-4, rtol=1e-4)


def test_config_round_trips_through_a_dict():
    config = FeatureConfig(sample_rate=22050, n_mels=128)
    assert FeatureConfig.from_dict(config.to_dict()) == config
