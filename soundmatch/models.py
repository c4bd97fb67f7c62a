"""Backbones by name (timm-style): ``create_model("ast-tiny", input_shape, num_params)``.

A checkpoint stores the backbone's name and its full config, so ``create_model`` rebuilds exactly
the trained network. ``SoundMatcher`` wraps a backbone with the feature standardisation computed
from the training data, so that a checkpoint's model takes raw log-mel features.
"""

from __future__ import annotations

import torch
from torch import nn

from . import plugins
from .errors import SoundmatchError, first_line


def create_model(name: str, input_shape: tuple[int, int], num_params: int,
                 **overrides) -> tuple[nn.Module, dict]:
    """Build backbone ``name`` with its registered config updated by ``overrides``; returns the
    module and the full config used."""
    entry = plugins.backbones().entry(name)
    config = {**entry.extra.get("config", {}), **overrides}
    try:
        model = entry.obj(tuple(input_shape), num_params, **config)
    except (TypeError, ValueError, RuntimeError, ZeroDivisionError) as exc:
        reason = first_line(exc)
        raise SoundmatchError(f"backbone {name} with config {config}: {reason[:160]}") from None
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
    """Raw log-mel features (and, for a model trained across notes, the MIDI note each was played
    at) in, normalised synth parameters in [0, 1] out.

    The note reaches every backbone the same way: a small network maps it to a bias per mel band,
    added to the standardised features before the backbone sees them. So any registered backbone
    can be told the note, and the input needs no transposition (which would stretch time).
    """

    def __init__(self, backbone: nn.Module, feature_mean: float = 0.0, feature_std: float = 1.0,
                 n_mels: int | None = None, note_range: tuple[int, int] | None = None):
        super().__init__()
        self.backbone = backbone
        self.register_buffer("feature_mean", torch.tensor(float(feature_mean)))
        self.register_buffer("feature_std", torch.tensor(float(feature_std)))
        self.note_range = tuple(note_range) if note_range else None
        self.note_embedding = None
        if self.note_range:
            if n_mels is None:
                raise ValueError("a note-conditioned model needs n_mels")
            self.note_embedding = nn.Sequential(nn.Linear(1, 64), nn.GELU(), nn.Linear(64, n_mels))

    def forward(self, features: torch.Tensor, note: torch.Tensor | None = None) -> torch.Tensor:
        x = (features - self.feature_mean) / self.feature_std
        if self.note_embedding is not None:
            if note is None:
                raise ValueError("this model was trained across notes: pass the note")
            lo, hi = self.note_range
            scaled = (note.to(x.dtype).reshape(-1, 1) - (lo + hi) / 2) / max((hi - lo) / 2, 1)
            x = x + self.note_embedding(scaled).unsqueeze(-1)
        return self.backbone(x)
