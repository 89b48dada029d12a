"""Convolutional networks of the paper's CIFAR study: AlexNet-style CNN with a channel scale, and CIFAR VGG.

Both contain dropout in their classifier. Dropout is active only in ``train()`` mode; the
gradient-noise pass runs the network in ``eval()`` mode, so dropout is off (and batch norm
uses its running statistics) while the noise is measured: each sample's gradient then does
not depend on the random dropout mask or on the other samples of its mini-batch.
"""

from __future__ import annotations

import torch
from torch import nn

from sgnoise.models._util import _check_conv_arguments, _num_parameters, _positive_int

# Stage widths as multiples of the base width w (w = 64 gives the standard VGG); "M": 2×2 max-pool.
VGG_CONFIGS: dict[str, tuple] = {
    "vgg11": (1, "M", 2, "M", 4, 4, "M", 8, 8, "M", 8, 8, "M"),
    "vgg13": (1, 1, "M", 2, 2, "M", 4, 4, "M", 8, 8, "M", 8, 8, "M"),
    "vgg16": (1, 1, "M", 2, 2, "M", 4, 4, 4, "M", 8, 8, 8, "M", 8, 8, 8, "M"),
    "vgg19": (1, 1, "M", 2, 2, "M", 4, 4, 4, 4, "M", 8, 8, 8, 8, "M", 8, 8, 8, 8, "M"),
}

DROPOUT_P = 0.5


# --------------------------------------------------------------------------- AlexNet


def alexnet_feature_side(input_size: int) -> int:
    """Side of AlexNet's last feature map.

    conv 4×4 stride 2 pad 2: s → ⌊s/2⌋ + 1; each max-pool 3 stride 2: s → ⌊(s − 3)/2⌋ + 1 (three of them);
    the 5×5 pad 2 and 3×3 pad 1 convolutions keep the size. 32 → 17 → 8 → 3 → 1.
    """
    side = (input_size + 2 * 2 - 4) // 2 + 1
    for _ in range(3):
        side = (side - 3) // 2 + 1  # the three max-pools (the convolutions between keep the size)
    return side


def alexnet_hidden_width(num_features: int) -> int:
    """Classifier width n·(1 + ⌊log2 n⌋) for n flattened features (n = ch on 32×32 inputs; docs/science.md §4)."""
    return num_features * num_features.bit_length()  # bit_length(n) = 1 + ⌊log2 n⌋


class AlexNet(nn.Module):
    """AlexNet-style CNN of the paper (docs/science.md §4) with channel scale ``ch``.

    features: Conv(in→ch, 4×4, stride 2, pad 2)–ReLU–MaxPool(3, 2)–Conv(ch→ch, 5×5, pad 2)–ReLU–
    MaxPool(3, 2)–3 × [Conv(ch→ch, 3×3, pad 1)–ReLU]–MaxPool(3, 2); for 32×32 inputs the result
    is ch×1×1. classifier: Dropout–FC(n→h)–ReLU–Dropout–FC(h→h)–ReLU–FC(h→classes) with
    n = ch·side², h = n·(1 + ⌊log2 n⌋). All layers have biases. Dropout is off in eval mode.
    """

    def __init__(self, scale: int, num_classes: int, in_channels: int = 3, input_size: int = 32):
        super().__init__()
        ch = _positive_int(scale, "scale")
        _positive_int(num_classes, "num_classes")
        _positive_int(in_channels, "in_channels")
        _positive_int(input_size, "input_size")
        side = alexnet_feature_side(input_size)
        if side < 1:
            raise ValueError(f"input_size must be >= 28 (smaller inputs leave no feature map after three max-pools), got {input_size}")
        self.scale, self.num_classes, self.in_channels, self.input_size = ch, num_classes, in_channels, input_size
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, ch, kernel_size=4, stride=2, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(ch, ch, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(ch, ch, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(ch, ch, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(ch, ch, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.num_features = ch * side * side
        self.hidden_width = alexnet_hidden_width(self.num_features)
        self.classifier = nn.Sequential(
            nn.Dropout(DROPOUT_P),
            nn.Linear(self.num_features, self.hidden_width),
            nn.ReLU(),
            nn.Dropout(DROPOUT_P),
            nn.Linear(self.hidden_width, self.hidden_width),
            nn.ReLU(),
            nn.Linear(self.hidden_width, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))

    @property
    def num_parameters(self) -> int:
        return _num_parameters(self)


def alexnet_num_parameters(scale: int, num_classes: int, in_channels: int = 3, input_size: int = 32) -> int:
    """Closed-form parameter count.

    Convs 16·in·ch + 25·ch² + 3·9·ch² + 5·ch (biases); FCs n·h + h² + h·classes + 2h + classes,
    with n = ch·side² features and h = n·(1 + ⌊log2 n⌋).
    """
    ch = scale
    n = ch * alexnet_feature_side(input_size) ** 2
    h = alexnet_hidden_width(n)
    convs = 16 * in_channels * ch + 25 * ch * ch + 3 * 9 * ch * ch + 5 * ch
    dense = n * h + h * h + h * num_classes + 2 * h + num_classes
    return convs + dense


def alexnet(scale: int, num_classes: int, in_channels: int = 3, *, input_size: int = 32) -> AlexNet:
    """AlexNet-style CNN with channel scale ``scale`` (docs/science.md §4); dropout off in eval mode (noise pass)."""
    return AlexNet(scale, num_classes, in_channels, input_size)


# --------------------------------------------------------------------------- VGG


class VGG(nn.Module):
    """CIFAR VGG (Simonyan & Zisserman 2015, adapted to 32×32 inputs), variants 11/13/16/19.

    features: per VGG_CONFIGS, Conv 3×3 pad 1 [–BatchNorm]–ReLU with widths w·(1, 2, 4, 8, 8)
    per stage (w = 64 is the standard VGG) and a 2×2 max-pool after each stage, so 32×32
    inputs end as 8w×1×1. classifier: Dropout–FC(8w→8w)–ReLU–Dropout–FC(8w→8w)–ReLU–
    FC(8w→classes) (the common CIFAR adaptation of VGG's three FC layers). With batch norm the
    convolutions have no bias (a bias before BN has zero gradient in training). Convs use He
    (fan-out) initialisation. In eval mode dropout is off and BN uses running statistics.
    """

    def __init__(self, variant: str, num_classes: int, batch_norm: bool = False, in_channels: int = 3, width: int = 64):
        super().__init__()
        if variant not in VGG_CONFIGS:
            raise ValueError(f"variant must be one of {tuple(VGG_CONFIGS)}, got {variant!r}")
        _check_conv_arguments(batch_norm, num_classes=num_classes, in_channels=in_channels, width=width)
        self.variant, self.num_classes, self.batch_norm, self.width = variant, num_classes, batch_norm, width
        layers, channels = [], in_channels
        for item in VGG_CONFIGS[variant]:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                continue
            out = item * width
            layers.append(nn.Conv2d(channels, out, kernel_size=3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.ReLU())
            channels = out
        self.features = nn.Sequential(*layers)
        self.num_features = channels
        self.classifier = nn.Sequential(
            nn.Dropout(DROPOUT_P),
            nn.Linear(channels, channels),
            nn.ReLU(),
            nn.Dropout(DROPOUT_P),
            nn.Linear(channels, channels),
            nn.ReLU(),
            nn.Linear(channels, num_classes),
        )
        for module in self.features:
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (32, 32):
            raise ValueError(f"VGG expects 32×32 inputs, got {tuple(x.shape[-2:])}")
        return self.classifier(torch.flatten(self.features(x), 1))

    @property
    def num_parameters(self) -> int:
        return _num_parameters(self)


def vgg_num_parameters(
    variant: str, num_classes: int, batch_norm: bool = False, in_channels: int = 3, width: int = 64
) -> int:
    """Closed-form parameter count.

    Σ_convs 9·c_in·c_out + c_out (the bias; with BN instead γ and β: 2·c_out), then the classifier
    2·(d² + d) + d·classes + classes with d = 8w.
    """
    if variant not in VGG_CONFIGS:
        raise ValueError(f"variant must be one of {tuple(VGG_CONFIGS)}, got {variant!r}")
    total, channels = 0, in_channels
    for item in VGG_CONFIGS[variant]:
        if item != "M":
            out = item * width
            total += 9 * channels * out + (2 * out if batch_norm else out)
            channels = out
    return total + 2 * (channels * channels + channels) + channels * num_classes + num_classes


def vgg(variant: str, num_classes: int, batch_norm: bool = False, *, in_channels: int = 3, width: int = 64) -> VGG:
    """CIFAR VGG ``variant`` ('vgg11', 'vgg13', 'vgg16', 'vgg19'), base width ``width``; dropout off in eval mode."""
    return VGG(variant, num_classes, batch_norm, in_channels, width)
