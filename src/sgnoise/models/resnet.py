"""CIFAR ResNet (He et al. 2016, §4.2): the ResNet-20 family (depth 6n + 2) with a base width and optional batch norm.

conv 3×3 (in→w) [–BN]–ReLU, then three stages of n basic blocks with widths w, 2w, 4w (the first block of
stages 2 and 3 has stride 2), global average pooling and FC(4w→classes). A basic block is
conv 3×3 [–BN]–ReLU–conv 3×3 [–BN], plus the shortcut, then ReLU. Shortcuts are the paper's option A:
identity, or where the shape changes, the input subsampled by 2 and zero-padded in channels (no
parameters), so ResNet-20 at w = 16 has the paper's 0.27 M parameters. With batch norm the
convolutions have no bias; in eval mode (the noise pass) BN uses its running statistics, so each
sample's gradient does not depend on the other samples of its mini-batch. Without batch norm the
convolutions have biases and the last convolution of every residual branch starts at zero (as in
Fixup and SkipInit), so each block starts as the identity. Un-normalised, it still learns slowly: on
mnist5k ResNet-8 at width 4 reaches training accuracy 0.29 after 300 SGD steps at η = 0.1 (0.88 with
batch norm at η = 0.3). Convolutions use He (fan-in) initialisation, which keeps the forward signal's
scale without batch norm.

Parameter names tell the layer types apart: ``stem.conv``, ``stem.bn``, ``stages.<s>.<b>.conv1``,
``.bn1``, ``.conv2``, ``.bn2``, ``head`` (the classifier).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from sgnoise.models._util import _check_conv_arguments, _num_parameters


def resnet_blocks(depth: int) -> int:
    """Basic blocks per stage, n = (depth − 2) / 6 (ResNet-20: 3); depth must be 6n + 2 with n >= 1."""
    if isinstance(depth, bool) or not isinstance(depth, int):
        raise TypeError(f"depth must be an int, got {type(depth).__name__}")
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"ResNet depth must be 6n + 2 with n >= 1 (8, 14, 20, 32, 44, 56, 110, ...), got {depth}")
    return (depth - 2) // 6


class BasicBlock(nn.Module):
    """conv1 [–bn1]–ReLU–conv2 [–bn2] + option-A shortcut, then ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int, batch_norm: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=not batch_norm)
        self.bn1 = nn.BatchNorm2d(c_out) if batch_norm else nn.Identity()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=not batch_norm)
        self.bn2 = nn.BatchNorm2d(c_out) if batch_norm else nn.Identity()
        self.stride, self.pad = stride, c_out - c_in

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.pad:
            x = F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet(nn.Module):
    """CIFAR ResNet of ``depth`` = 6n + 2 layers, base width ``width`` (16: the paper's), optional batch norm."""

    def __init__(self, depth: int, num_classes: int, width: int = 16, batch_norm: bool = True, in_channels: int = 3):
        super().__init__()
        n = resnet_blocks(depth)
        _check_conv_arguments(batch_norm, num_classes=num_classes, width=width, in_channels=in_channels)
        self.depth, self.num_classes, self.width, self.batch_norm = depth, num_classes, width, batch_norm
        self.stem = nn.Sequential()
        self.stem.add_module("conv", nn.Conv2d(in_channels, width, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            self.stem.add_module("bn", nn.BatchNorm2d(width))
        self.stem.add_module("relu", nn.ReLU())
        stages, channels = [], width
        for stage, out in enumerate((width, 2 * width, 4 * width)):
            blocks = [BasicBlock(channels if b == 0 else out, out, 2 if stage and b == 0 else 1, batch_norm)
                      for b in range(n)]
            stages.append(nn.Sequential(*blocks))
            channels = out
        self.stages = nn.Sequential(*stages)
        self.head = nn.Linear(channels, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        if not batch_norm:
            for block in self.modules():
                if isinstance(block, BasicBlock):
                    nn.init.zeros_(block.conv2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    @property
    def num_parameters(self) -> int:
        return _num_parameters(self)


def resnet_num_parameters(depth: int, num_classes: int, width: int = 16, batch_norm: bool = True,
                          in_channels: int = 3) -> int:
    """Closed-form parameter count.

    A 3×3 conv c_in→c_out has 9·c_in·c_out weights plus c_out (bias, without BN) or 2·c_out (BN γ, β);
    convs: stem in→w, stage widths (w, 2w, 4w) with 2n convs each, the first of stages 2, 3 from the
    previous width; head 4w·classes + classes. Option-A shortcuts have none.
    """
    n = resnet_blocks(depth)
    convs = [(in_channels, width)]
    channels = width
    for out in (width, 2 * width, 4 * width):
        convs += [(channels, out)] + [(out, out)] * (2 * n - 1)
        channels = out
    per_channel = 2 if batch_norm else 1
    return sum(9 * a * b + per_channel * b for a, b in convs) + channels * num_classes + num_classes


def resnet(depth: int, num_classes: int, *, width: int = 16, batch_norm: bool = True, in_channels: int = 3) -> ResNet:
    """CIFAR ResNet-``depth`` (20: ResNet-20) at base width ``width``; BN on running statistics in eval mode."""
    return ResNet(depth, num_classes, width, batch_norm, in_channels)
