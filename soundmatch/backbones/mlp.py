"""The paper's MLP baseline: the flattened log-mel through 5 layers of width 2048 with batch norm,
ReLU and dropout 0.3. The same stack is the CNN baseline's head."""

from __future__ import annotations

import math

import torch
from torch import nn


def mlp_stack(in_features: int, width: int, depth: int, dropout: float) -> nn.Sequential:
    layers, n = [], in_features
    for _ in range(depth):
        layers += [nn.Linear(n, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Dropout(dropout)]
        n = width
    return nn.Sequential(*layers)


class MLP(nn.Module):
    def __init__(self, input_shape: tuple[int, int], num_params: int, *, width: int = 2048,
                 depth: int = 5, dropout: float = 0.3):
        super().__init__()
        self.body = mlp_stack(math.prod(input_shape), width, depth, dropout)
        self.out = nn.Linear(width, num_params)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.out(self.body(x.flatten(1))))


def build(input_shape: tuple[int, int], num_params: int, **config) -> MLP:
    return MLP(tuple(input_shape), num_params, **config)
