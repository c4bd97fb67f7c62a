"""The Audio Spectrogram Transformer as in Bruford et al. (DAFx 2024): a ViT over 16x16 patches
of the log-mel spectrogram, with the classifier replaced by a 3-layer MLP regressing the synth
parameters.

No ImageNet weights and no positional-embedding interpolation: the input size is fixed by the
dataset's feature settings. Attention is ``scaled_dot_product_attention``: on a GPU it picks a
fused kernel (flash or memory-efficient); on a CPU it runs the math backend, faster there for
sequences this short.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel


class Block(nn.Module):
    """A pre-norm transformer encoder layer."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, dim))
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, c // self.heads).unbind(2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (b, heads, n, head_dim)
        p = self.dropout if self.training else 0.0
        if x.is_cuda:
            attn = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        else:
            # On a CPU, the fused (flash) kernel's backward is far slower than plain matmuls and
            # a softmax for sequences this short: ast-tiny's 41 tokens, 30 ms against a few per
            # layer in bf16 (README "Speed"). Same function, the math backend.
            with sdpa_kernel(SDPBackend.MATH):
                attn = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        x = x + self.proj(attn.transpose(1, 2).reshape(b, n, c))
        return x + self.mlp(self.norm2(x))


class AST(nn.Module):
    def __init__(self, input_shape: tuple[int, int], num_params: int, *, dim: int = 768,
                 depth: int = 12, heads: int = 12, patch_size: int = 16,
                 stride: int | tuple[int, int] = 6, mlp_ratio: float = 4.0,
                 head_width: int = 768, head_depth: int = 3, dropout: float = 0.0):
        super().__init__()
        n_mels, frames = input_shape
        fs, ts = (stride, stride) if isinstance(stride, int) else tuple(stride)
        if n_mels < patch_size or frames < patch_size:
            raise ValueError(f"input {input_shape} is smaller than one {patch_size}-square patch")
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.grid = ((n_mels - patch_size) // fs + 1, (frames - patch_size) // ts + 1)
        num_tokens = self.grid[0] * self.grid[1]
        # A strided convolution is exactly a linear embedding of each (possibly overlapping) patch.
        self.patch_embed = nn.Conv2d(1, dim, kernel_size=patch_size, stride=(fs, ts))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_tokens + 1, dim))
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        layers, width = [], dim
        for _ in range(head_depth):
            layers += [nn.Linear(width, head_width), nn.GELU()]
            width = head_width
        self.head = nn.Sequential(*layers)
        self.out = nn.Linear(width, num_params)
        self.apply(_init)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    @property
    def num_tokens(self) -> int:
        return self.grid[0] * self.grid[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x.unsqueeze(1)).flatten(2).transpose(1, 2)  # (b, tokens, dim)
        x = torch.cat([self.cls_token.expand(len(x), -1, -1), x], dim=1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return torch.sigmoid(self.out(self.head(self.norm(x[:, 0]))))


def _init(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        nn.init.zeros_(m.bias)


def build(input_shape: tuple[int, int], num_params: int, **config) -> AST:
    return AST(tuple(input_shape), num_params, **config)
