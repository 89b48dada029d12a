"""A small vision transformer (Dosovitskiy et al. 2021): patch embedding, pre-norm attention blocks, a class token.

embed: Conv(in→d, p×p, stride p) over the image (one token per p×p patch), a learned class token
prepended and a learned position embedding added; then ``depth`` pre-norm blocks
x ← x + Attn(LN(x)), x ← x + MLP(LN(x)) with multi-head self-attention (``heads`` heads of d/heads,
a joint qkv projection and an output projection) and MLP Linear(d→r·d)–GELU–Linear(r·d→d); a final
LN and Linear(d→classes) on the class token. Linear layers keep PyTorch's default initialisation
(uniform, std 1/√(3·fan_in)): the large-ViT recipe's std 0.02 is ≈ 1/√d for d = 768 and leaves a ViT of
width 32 near chance after 300 plain-SGD steps on mnist5k (0.29 against 0.8). No dropout, and layer norm works per token, so a
sample's gradient never depends on the rest of its mini-batch (eval and train mode compute the same).

Parameter names tell the layer types apart: ``embed.*`` (patch projection, class token, positions),
``blocks.<i>.norm1|norm2`` and ``norm`` (layer norms), ``blocks.<i>.attn.qkv|proj`` (attention),
``blocks.<i>.mlp.fc1|fc2`` (MLP), ``head`` (the classifier).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from sgnoise.models._util import _num_parameters, _positive_int

MLP_RATIO = 2


def vit_tokens(input_size: int, patch: int) -> int:
    """Patch tokens of a square ``input_size`` image cut into ``patch``×``patch`` patches (the class token not counted)."""
    _positive_int(input_size, "input_size")
    _positive_int(patch, "patch")
    if input_size % patch:
        raise ValueError(f"ViT patch size {patch} must divide the image side {input_size}")
    return (input_size // patch) ** 2


class PatchEmbedding(nn.Module):
    """Non-overlapping p×p patches projected to d, a class token in front, learned positions added."""

    def __init__(self, in_channels: int, width: int, patch: int, input_size: int):
        super().__init__()
        tokens = vit_tokens(input_size, patch)
        self.proj = nn.Conv2d(in_channels, width, kernel_size=patch, stride=patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, width))
        self.pos = nn.Parameter(torch.randn(1, tokens + 1, width) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x).flatten(2).transpose(1, 2)  # (N, tokens, d)
        return torch.cat([self.cls.expand(len(x), -1, -1), x], dim=1) + self.pos


class Attention(nn.Module):
    """Multi-head self-attention: qkv = Linear(d→3d), softmax(q kᵀ/√(d/h)) v per head, proj = Linear(d→d)."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # (N, heads, tokens, d/heads)
        return self.proj(out.transpose(1, 2).reshape(n, t, d))


class MLP(nn.Module):
    """The transformer block's MLP: Linear(width → hidden), GELU, Linear(hidden → width)."""

    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: x + Attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, width: int, heads: int, mlp_ratio: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attn = Attention(width, heads)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = MLP(width, mlp_ratio * width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    """Vision transformer: ``depth`` blocks of width ``width`` with ``heads`` heads on ``patch``×``patch`` patches."""

    def __init__(self, depth: int, width: int, heads: int, patch: int, num_classes: int, in_channels: int = 3,
                 input_size: int = 32, mlp_ratio: int = MLP_RATIO):
        super().__init__()
        for value, argument in ((depth, "depth"), (width, "width"), (heads, "heads"), (num_classes, "num_classes"),
                                (in_channels, "in_channels"), (mlp_ratio, "mlp_ratio")):
            _positive_int(value, argument)
        if width % heads:
            raise ValueError(f"ViT heads ({heads}) must divide the width ({width})")
        self.depth, self.width, self.heads, self.patch = depth, width, heads, patch
        self.num_classes, self.input_size = num_classes, input_size
        self.embed = PatchEmbedding(in_channels, width, patch, input_size)
        self.blocks = nn.Sequential(*(Block(width, heads, mlp_ratio) for _ in range(depth)))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(f"ViT built for {self.input_size}×{self.input_size} inputs, got {tuple(x.shape[-2:])}")
        return self.head(self.norm(self.blocks(self.embed(x)))[:, 0])

    @property
    def num_parameters(self) -> int:
        return _num_parameters(self)


def vit_num_parameters(depth: int, width: int, heads: int, patch: int, num_classes: int, in_channels: int = 3,
                       input_size: int = 32, mlp_ratio: int = MLP_RATIO) -> int:
    """Closed-form parameter count (``heads`` does not change it).

    embed: p²·in·d + d (projection) + d (class token) + (T + 1)·d (positions), T = (side/p)² patches;
    per block: 2·2d (two layer norms) + 3d² + 3d (qkv) + d² + d (proj) + 2·r·d² + r·d + d (MLP);
    final layer norm 2d; head d·classes + classes.
    """
    d, r, tokens = width, mlp_ratio, vit_tokens(input_size, patch)
    embed = patch * patch * in_channels * d + d + d + (tokens + 1) * d
    block = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (2 * r * d * d + r * d + d)
    return embed + depth * block + 2 * d + d * num_classes + num_classes


def vit(depth: int, width: int, heads: int, patch: int, num_classes: int, *, in_channels: int = 3,
        input_size: int = 32) -> ViT:
    """Pre-norm ViT with ``depth`` blocks, width ``width``, ``heads`` heads, ``patch``×``patch`` patches."""
    return ViT(depth, width, heads, patch, num_classes, in_channels, input_size)
