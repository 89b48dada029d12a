"""FCN(depth, width): the paper's bias-free fully connected ReLU network (docs/science.md §4)."""

from __future__ import annotations

import torch
from torch import nn


class FCN(nn.Module):
    """depth Linear layers without bias: input→w, (depth−2)×(w→w), w→classes, ReLU between.

    Parameter count: d_in·w + (depth−2)·w² + w·classes.
    """

    def __init__(self, input_dim: int, depth: int, width: int, num_classes: int):
        super().__init__()
        if depth < 2:
            raise ValueError(f"FCN depth must be >= 2 (number of Linear layers), got {depth}")
        if width < 1:
            raise ValueError(f"FCN width must be >= 1, got {width}")
        sizes = [input_dim] + [width] * (depth - 1) + [num_classes]
        self.layers = nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)


def fcn_num_parameters(input_dim: int, depth: int, width: int, num_classes: int) -> int:
    """Parameters of FCN(depth, width) on ``input_dim`` inputs: d_in·w + (depth−2)·w² + w·classes."""
    return input_dim * width + (depth - 2) * width * width + width * num_classes
