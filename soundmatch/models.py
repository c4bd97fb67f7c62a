"""Backbones by name (timm-style): ``create_model("ast-tiny", input_shape, num_params)``.

A checkpoint stores the backbone's name and its full config, so ``create_model`` rebuilds exactly
the trained network. ``SoundMatcher`` wraps a backbone with the feature standardisation computed
from the training data, so that a checkpoint's model takes raw log-mel features.
"""

from __future__ import annotations

import torch
from torch import nn

from . import plugins
from .errors import SoundmatchError


def create_model(name: str, input_shape: tuple[int, int], num_params: int,
                 **overrides) -> tuple[nn.Module, dict]:
    """Build backbone ``name`` with its registered config updated by ``overrides``; returns the
    module and the full config used."""
    entry = plugins.backbones().entry(name)
    config = {**entry.extra.get("config", {}), **overrides}
    try:
        model = entry.obj(tuple(input_shape), num_params, **config)
    except (TypeError, ValueError) as exc:
        raise SoundmatchError(f"backbone {name} with config {config}: {exc}") from None
    return model, config


def default_lr(name: str) -> float:
    return float(plugins.backbones().entry(name).extra.get("default_lr", 3e-4))


def count_parameters(name: str, input_shape: tuple[int, int] = (64, 173),
                     num_params: int = 16) -> int:
    """Parameter count without allocating weights (built on the meta device)."""
    with torch.device("meta"):
        model, _ = create_model(name, input_shape, num_params)
    return sum(p.numel() for p in model.parameters())


class SoundMatcher(nn.Module):
    """Raw log-mel features in, normalised synth parameters in [0, 1] out."""

    def __init__(self, backbone: nn.Module, feature_mean: float = 0.0, feature_std: float = 1.0):
        super().__init__()
        self.backbone = backbone
        self.register_buffer("feature_mean", torch.tensor(float(feature_mean)))
        self.register_buffer("feature_std", torch.tensor(float(feature_std)))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.backbone((features - self.feature_mean) / self.feature_std)
