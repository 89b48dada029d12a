"""Model registry. FCN(depth, width): bias-free Linear layers with ReLU (PAPER.md §4)."""

from __future__ import annotations

import math

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
    return input_dim * width + (depth - 2) * width * width + width * num_classes


from sgnoise.runs import MODELS, model_tag  # noqa: E402,F401  (torch-free; re-exported)


def kaiming_initialise(model: nn.Module) -> None:
    """Kaiming-normal weights (fan-in, ReLU gain √2) for every conv and linear layer, zero biases.
    PyTorch's default (uniform, variance 1/(3·fan_in)) loses a factor ≈ √6 of the signal
    at every ReLU layer: through AlexNet's 7 of them on 28 × 28 inputs the logits are nearly constant and
    SGD at the default study's step sizes never leaves chance (training accuracy 0.10)."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    for layer in layers:
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)


def build_model(spec: dict, input_shape, num_classes: int) -> nn.Module:
    """Instantiate the model named in ``spec["model"]`` with its size keys."""
    name = spec["model"]
    if name == "fcn":
        return FCN(math.prod(input_shape), spec["depth"], spec["width"], num_classes)
    if name == "alexnet":
        from sgnoise.models_cnn import alexnet

        model = alexnet(spec["scale"], num_classes, in_channels=input_shape[0], input_size=input_shape[-1])
        if spec.get("init", "default") == "kaiming":
            kaiming_initialise(model)
        elif spec.get("init", "default") != "default":
            raise ValueError(f"unknown AlexNet init {spec['init']!r}; expected default or kaiming")
        return model
    if name == "vgg":
        from sgnoise.models_cnn import vgg

        return vgg(f"vgg{spec['variant']}", num_classes, batch_norm=spec.get("batch_norm", False),
                   in_channels=input_shape[0], width=spec.get("width", 64))
    raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}")


def parameter_layout(model: nn.Module) -> list[tuple[str, int, int]]:
    """(name, offset, size) of every parameter tensor in parameters_to_vector order."""
    layout, offset = [], 0
    for name, parameter in model.named_parameters():
        layout.append((name, offset, parameter.numel()))
        offset += parameter.numel()
    return layout
