"""Small helpers shared by the model modules (cnn, resnet, vit)."""

from __future__ import annotations

from torch import nn


def _positive_int(value, argument: str) -> int:
    """``value`` itself when it is an int >= 1 (not a bool); else TypeError/ValueError naming ``argument``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{argument} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{argument} must be >= 1, got {value}")
    return value


def _num_parameters(module: nn.Module) -> int:
    """Number of scalar parameters of ``module`` (all of them, trainable or not)."""
    return sum(p.numel() for p in module.parameters())


def _check_conv_arguments(batch_norm, **sizes) -> None:
    """``batch_norm`` a bool and every size (keyword: value, checked in order) an int >= 1, else an error naming it."""
    if not isinstance(batch_norm, bool):
        raise TypeError(f"batch_norm must be a bool, got {type(batch_norm).__name__}")
    for argument, value in sizes.items():
        _positive_int(value, argument)
