"""Samples as every estimator takes them, and what all estimators share: the method and policy names,
the zero policy, α from an estimate of 1/α, the method check and sample order statistics.

Samples are 1-D, flattened in C order, free of exact zeros (``drop_zeros``; no estimator takes log|0|).
"""

from __future__ import annotations

import math

import numpy as np

METHODS = ("mohammadi", "mohammadi_order", "hill", "pickands", "moment", "mcculloch")
TOP_METHODS = ("hill", "pickands", "moment")  # statistics: the largest |x| only (``top_count`` of them)
ZERO_POLICIES = ("exclude", "keep")
CI_METHODS = ("auto", "analytic", "bootstrap", "none")
NORMALITY_TESTS = ("dagostino", "jarque_bera")
MCCULLOCH_LEVELS = (0.05, 0.25, 0.75, 0.95)
HILL_EXPONENT = 0.6


# ----------------------------------------------------------------------------- samples, zeros


def drop_zeros(x: np.ndarray) -> np.ndarray:
    """Flatten in C order and drop exact zeros (log|0| is undefined; see README, 'Exact zeros')."""
    x = np.asarray(x).reshape(-1)
    return x[x != 0]


def prepare_sample(x, zeros: str = "exclude") -> np.ndarray:
    """Flatten ``x`` (C order) to float64 and apply the zero policy: ``"exclude"`` drops exact zeros,
    ``"keep"`` raises if there are any. Raises on NaN/inf."""
    if zeros not in ZERO_POLICIES:
        raise ValueError(f"unknown zeros policy {zeros!r}; expected one of {', '.join(ZERO_POLICIES)}")
    x = np.asarray(x)
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise TypeError(f"x must be a real numeric array, got dtype {x.dtype}")
    x = x.astype(np.float64, copy=False).reshape(-1)
    if not np.all(np.isfinite(x)):
        raise ValueError("samples contain NaN or inf")
    if zeros == "exclude":
        return x[x != 0]
    if np.any(x == 0):
        raise ValueError("samples contain exact zeros and zeros='keep'; no estimator takes log|0| (use zeros='exclude')")
    return x


def alpha_from_inverse(inverse):
    """α = 1 / (1/α̂) where the estimate of 1/α is positive, +inf otherwise (vectorised)."""
    inverse = np.asarray(inverse, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(inverse > 0, 1.0 / inverse, np.inf)
    alpha = np.where(np.isnan(inverse), np.nan, alpha)
    return float(alpha) if alpha.ndim == 0 else alpha


def check_method(method: str) -> None:
    """Raise ValueError unless ``method`` is one of METHODS."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")


def order_rank(n: int, level: float) -> int:
    """1-based rank ⌈level·n⌉ (clipped to [1, n]) of the sample quantile at ``level`` (inverted CDF)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return int(min(max(math.ceil(level * n - 1e-9), 1), n))


def kth_smallest(values: np.ndarray, rank: int) -> float:
    """The ``rank``-th smallest (1-based) entry of a 1-D array."""
    return float(np.partition(values, rank - 1)[rank - 1])

