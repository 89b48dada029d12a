"""Schedules of a run that the workflow needs at parse time (kept free of torch imports):
checkpoint iterations and the step size."""

from __future__ import annotations

import math

import numpy as np


def checkpoint_schedule(iterations: int, count: int | None = None, explicit=None) -> list[int]:
    """Checkpoint iterations: an explicit list, or ``count`` log-spaced points from 1 to ``iterations``,
    always including 0 and ``iterations``."""
    if explicit:
        bad = [i for i in explicit if not 0 <= i <= iterations]
        if bad:
            raise ValueError(f"train.checkpoints.iterations {bad} outside [0, {iterations}]")
        points = set(int(i) for i in explicit)
    else:
        if count is None or count < 2:
            raise ValueError(f"train.checkpoints.count must be >= 2, got {count}")
        points = set(np.unique(np.rint(np.geomspace(1, max(iterations, 1), count - 1)).astype(int)).tolist())
    return sorted(points | {0, iterations})


def learning_rate(base_lr: float, iteration: int, iterations: int, milestones, factor: float) -> float:
    """η·factor^m with m the number of milestone fractions (of ``iterations``) already reached."""
    passed = sum(iteration >= math.ceil(fraction * iterations) for fraction in milestones)
    return base_lr * factor**passed
