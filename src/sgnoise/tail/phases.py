"""Detect the paper's "two phases" of α over training: a fast drop, then a jump, then a plateau."""

from __future__ import annotations

import numpy as np


def detect_phase_change(iterations, alpha, min_jump: float = 0.05):
    """Iteration where α̂ is lowest before its largest upward jump, or None.

    The jump is the largest increase of α̂ between the lowest point so far and any later
    checkpoint; it must exceed ``min_jump``. Returns (iteration at the minimum, jump size).
    """
    iterations = np.asarray(iterations)
    alpha = np.asarray(alpha, dtype=float)
    order = np.argsort(iterations)
    iterations, alpha = iterations[order], alpha[order]
    finite = np.isfinite(alpha)
    iterations, alpha = iterations[finite], alpha[finite]
    if alpha.size < 3:
        return None, 0.0
    running_min_index = np.zeros(alpha.size, dtype=int)
    for i in range(1, alpha.size):
        previous = running_min_index[i - 1]
        running_min_index[i] = i if alpha[i] < alpha[previous] else previous
    rises = alpha - alpha[running_min_index]
    best = int(np.argmax(rises))
    jump = float(rises[best])
    low = running_min_index[best]
    if jump < min_jump or low == 0:
        return None, jump
    return int(iterations[low]), jump


def phase_change_table(alpha, method: str = "mohammadi", view: str = "pooled", min_jump: float = 0.05):
    """One row per run: the detected phase-change iteration (NaN if none) and the jump of α̂ after it."""
    import pandas as pd

    rows = []
    selected = alpha[(alpha["method"] == method) & (alpha["view"] == view)]
    for run, series in selected.groupby("run", sort=False):
        iteration, jump = detect_phase_change(series["iteration"], series["alpha"], min_jump)
        rows.append(dict(run=run, method=method, phase_change_iteration=iteration, alpha_jump=jump))
    return pd.DataFrame(rows, columns=["run", "method", "phase_change_iteration", "alpha_jump"])
