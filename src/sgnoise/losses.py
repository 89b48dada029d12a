"""Losses, vectorised over the batch: cross-entropy ("nll") and the linear hinge ("hinge")."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cross_entropy(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of −log softmax(outputs)[target]."""
    return F.cross_entropy(outputs, targets)


def linear_hinge(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over batch × classes of max(0, 1 − t_c·out_c), t_c = +1 for the true class, −1 otherwise."""
    signs = -torch.ones_like(outputs)
    signs.scatter_(1, targets.view(-1, 1), 1.0)
    return torch.clamp(1.0 - signs * outputs, min=0.0).mean()


LOSSES = {"nll": cross_entropy, "hinge": linear_hinge}


def get_loss(name: str):
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; expected one of {', '.join(LOSSES)}") from None
