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


# -- the same losses with their output gradients in closed form (bundled training, sgnoise.training.bundle) --------

def cross_entropy_and_delta(outputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-group cross-entropy and ∂(Σ_g loss_g)/∂outputs for outputs (G, b, C), targets (G, b):
    loss_g = −mean_i log softmax(out_gi)[t_gi] and δ_gi = (softmax(out_gi) − e_{t_gi}) / b."""
    log_p = torch.log_softmax(outputs, dim=-1)
    index = targets.unsqueeze(-1)
    picked = log_p.gather(-1, index)
    losses = picked.squeeze(-1).mean(dim=-1).neg_()
    delta = log_p.exp_().scatter_add_(-1, index, torch.full_like(picked, -1.0))
    return losses, delta.div_(outputs.shape[-2])


def linear_hinge_and_delta(outputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-group linear hinge and ∂(Σ_g loss_g)/∂outputs for outputs (G, b, C), targets (G, b):
    loss_g = mean_{i,c} max(0, 1 − s_c out_gic) and δ_gic = −s_c 1[1 − s_c out_gic > 0] / (b·C).
    At the kink (margin exactly 0) the subgradient is 0, the one torch's autograd of ``linear_hinge``
    takes (clamp's backward passes no gradient at the boundary), so bundled and single-run training
    agree there too."""
    signs = torch.full_like(outputs, -1.0).scatter_(-1, targets.unsqueeze(-1), 1.0)
    margins = 1.0 - signs * outputs
    losses = margins.clamp(min=0.0).mean(dim=(-2, -1))
    scale = -1.0 / (outputs.shape[-2] * outputs.shape[-1])
    return losses, signs.mul_(margins > 0).mul_(scale)


LOSS_AND_DELTA = {"nll": cross_entropy_and_delta, "hinge": linear_hinge_and_delta}


def get_loss(name: str):
    """The loss function named ``name`` (LOSSES: nll, hinge); ValueError naming the choices otherwise."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; expected one of {', '.join(LOSSES)}") from None
