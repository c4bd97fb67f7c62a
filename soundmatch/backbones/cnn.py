"""The paper's CNN baseline: 5 convolutions (128 channels, kernel 7, stride 2) with batch norm,
ReLU and dropout 0.3, then the MLP baseline's 5-layer stack."""

from __future__ import annotations

import torch
from torch import nn

from .mlp import mlp_stack


class CNN(nn.Module):
    def __init__(self, input_shape: tuple[int, int], num_params: int, *, channels: int = 128,
                 conv_depth: int = 5, kernel_size: int = 7, width: int = 2048, depth: int = 5,
                 dropout: float = 0.3):
        super().__init__()
        layers, c = [], 1
        for _ in range(conv_depth):
            layers += [nn.Conv2d(c, channels, kernel_size, stride=2, padding=kernel_size // 2),
                       nn.BatchNorm2d(channels), nn.ReLU(), nn.Dropout(dropout)]
            c = channels
        self.conv = nn.Sequential(*layers)
        height, frames = input_shape
        for _ in range(conv_depth):  # each convolution halves both axes (rounding up)
            height, frames = (height + 1) // 2, (frames + 1) // 2
        self.head = mlp_stack(channels * height * frames, width, depth, dropout)
        self.out = nn.Linear(width, num_params)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.out(self.head(self.conv(x.unsqueeze(1)).flatten(1))))


def build(input_shape: tuple[int, int], num_params: int, **config) -> CNN:
    return CNN(tuple(input_shape), num_params, **config)
