"""Backbones by name (timm-style): ``create_model("ast-tiny", input_shape, num_params)``.

A checkpoint stores the backbone's name and its full config, so ``create_model`` rebuilds exactly
the trained network. ``ParameterNet`` wraps a backbone with the feature standardisation computed
from the training data, so that a checkpoint's model takes raw log-mel features.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
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
        raise SoundmatchError(f"backbone {name} with config {config}: {reason}") from None
    return model, config


def default_lr(name: str) -> float:
    return float(plugins.backbones().entry(name).extra.get("default_lr", 3e-4))


def count_parameters(name: str, input_shape: tuple[int, int] = (64, 173),
                     num_params: int = 16) -> int:
    """Parameter count without allocating weights (built on the meta device)."""
    with torch.device("meta"):
        model, _ = create_model(name, input_shape, num_params)
    return sum(p.numel() for p in model.parameters())


class OutputLayout:
    """Where each parameter's prediction sits among a backbone's outputs: one value in [0, 1]
    for a continuous or stepped parameter (regressed, squared error), K class scores for a choice
    of K (classified, cross-entropy). Backbones end in a sigmoid, so a choice's scores are read
    back as logits, log(p / (1 - p)). A spec with no choices maps outputs to parameters one to
    one, and the loss is plain MSE."""

    def __init__(self, sizes: tuple[int, ...]):
        self.sizes = tuple(int(k) for k in sizes)  # 0: one regressed value; K: K class scores
        self.num_outputs = sum(max(k, 1) for k in self.sizes)
        self.has_choices = any(self.sizes)
        # What the loss is called in messages.
        self.loss_name = "loss (MSE; cross-entropy for choices)" if self.has_choices else "MSE"

    @classmethod
    def for_spec(cls, spec) -> OutputLayout:
        return cls(tuple(p.num_choices for p in spec.parameters))

    def _columns(self, outputs: torch.Tensor):
        at = 0
        for k in self.sizes:
            width = max(k, 1)
            yield k, outputs[:, at:at + width]
            at += width

    @staticmethod
    def _logits(scores: torch.Tensor) -> torch.Tensor:
        p = scores.float().clamp(1e-6, 1 - 1e-6)
        return torch.log(p) - torch.log1p(-p)

    def decode(self, outputs: torch.Tensor) -> torch.Tensor:
        """Outputs -> normalised parameters: a choice plays at its bin's centre."""
        if not self.has_choices:
            return outputs
        columns = [col if k == 0 else ((col.argmax(dim=1, keepdim=True).to(col.dtype) + 0.5) / k)
                   for k, col in self._columns(outputs)]
        return torch.cat(columns, dim=1)

    def loss_terms(self, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per example and parameter: squared error, or cross-entropy for a choice."""
        if not self.has_choices:
            return (outputs - target) ** 2
        terms = []
        for j, (k, col) in enumerate(self._columns(outputs)):
            if k == 0:
                terms.append((col[:, 0] - target[:, j]) ** 2)
            else:
                index = (target[:, j] * k).long().clamp(0, k - 1)
                terms.append(nn.functional.cross_entropy(self._logits(col), index,
                                                         reduction="none"))
        return torch.stack(terms, dim=1)

    def loss(self, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.loss_terms(outputs, target).mean()

    def baseline(self, train: np.ndarray, val: np.ndarray) -> float:
        """The validation loss of a model that always predicts the training split's mean (for
        a choice: its share of each choice): what training must beat."""
        if not self.has_choices:
            return float(((val - train.mean(0)) ** 2).mean())
        terms = []
        for j, k in enumerate(self.sizes):
            if k == 0:
                terms.append(float(((val[:, j] - train[:, j].mean()) ** 2).mean()))
                continue
            seen = np.clip((train[:, j] * k).astype(np.int64), 0, k - 1)
            share = (np.bincount(seen, minlength=k) + 1.0) / (len(seen) + k)
            asked = np.clip((val[:, j] * k).astype(np.int64), 0, k - 1)
            terms.append(float(-np.log(share[asked]).mean()))
        return float(np.mean(terms))


class ParameterNet(nn.Module):
    """The network a checkpoint holds: raw log-mel features (and, for a model trained across
    notes, the MIDI note each was played at) in, normalised synth parameters in [0, 1] out.

    The note reaches every backbone the same way: a small network maps it to a bias per mel band,
    added to the standardised features before the backbone sees them. So any registered backbone
    can be told the note, and the input needs no transposition (which would stretch time).
    """

    def __init__(self, backbone: nn.Module, feature_mean: float = 0.0, feature_std: float = 1.0,
                 n_mels: int | None = None, note_range: tuple[int, int] | None = None,
                 layout: OutputLayout | None = None):
        super().__init__()
        self.backbone = backbone
        self.layout = layout
        self.register_buffer("feature_mean", torch.tensor(float(feature_mean)))
        self.register_buffer("feature_std", torch.tensor(float(feature_std)))
        self.note_range = tuple(note_range) if note_range else None
        self.note_embedding = None
        if self.note_range:
            if n_mels is None:
                raise ValueError("a note-conditioned model needs n_mels")
            self.note_embedding = nn.Sequential(nn.Linear(1, 64), nn.GELU(), nn.Linear(64, n_mels))

    def forward(self, features: torch.Tensor, note: torch.Tensor | None = None,
                raw: bool = False) -> torch.Tensor:
        """Normalised parameters; with ``raw``, the backbone's outputs (what the layout's loss
        takes)."""
        x = (features - self.feature_mean) / self.feature_std
        if self.note_embedding is not None:
            if note is None:
                raise ValueError("this model was trained across notes: pass the note")
            lo, hi = self.note_range
            scaled = (note.to(x.dtype).reshape(-1, 1) - (lo + hi) / 2) / max((hi - lo) / 2, 1)
            x = x + self.note_embedding(scaled).unsqueeze(-1)
        outputs = self.backbone(x)
        if raw or self.layout is None:
            return outputs
        return self.layout.decode(outputs)


@contextmanager
def dropout_on_last(model: nn.Module, rows: int, batch: int) -> Iterator[None]:
    """Within it, ``model``'s dropout is on for the last ``rows`` of a ``batch`` alone, the rows
    before pass as in evaluation: guesses and their dropout-varied kin in one pass (seven rows
    cost 30 ms where three and four in two passes cost 50). Only dropout is switched: batch norm
    keeps its running statistics. A dropout module that does not hold the batch first (a third
    party's backbone may not) drops nothing."""
    def keep_first_rows(module: nn.Module, inputs: tuple[torch.Tensor, ...],
                        output: torch.Tensor) -> torch.Tensor:
        if len(output) != batch:
            return inputs[0]
        return torch.cat([inputs[0][:batch - rows], output[batch - rows:]])

    dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout)] if rows else []
    hooks = [m.register_forward_hook(keep_first_rows) for m in dropouts]
    for m in dropouts:
        m.train(True)
    try:
        yield
    finally:
        for m, hook in zip(dropouts, hooks, strict=True):
            m.eval()
            hook.remove()
