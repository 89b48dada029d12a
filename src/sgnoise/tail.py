"""Tail-index (α) estimators for symmetric α-stable samples."""

from __future__ import annotations

import math

import numpy as np

METHODS = ("mohammadi",)
ZERO_POLICIES = ("exclude", "keep")


def reference_k1(n: int) -> int:
    """Block length K1 as the reference code chooses it: the largest divisor of n not above √n."""
    if n < 4:
        raise ValueError(f"need at least 4 samples to form blocks, got {n}")
    for k1 in range(math.isqrt(n), 0, -1):
        if n % k1 == 0:
            return k1
    return 1


def drop_zeros(x: np.ndarray) -> np.ndarray:
    """Flatten in C order and drop exact zeros (log|0| is undefined; see README, 'Exact zeros')."""
    x = np.asarray(x).reshape(-1)
    return x[x != 0]


def mohammadi(x, k1="reference") -> float:
    """Mohammadi–Mohammadpour–Ogata (2015, Cor. 2.4) estimator, the paper's choice.

    With K = K1·K2 samples and block sums Y_i = Σ_{j≤K1} X_{(i−1)K1+j} of consecutive entries,
    1/α̂ = [mean log|Y_i| − mean log|X_j|] / log K1 (a sum of K1 iid SαS is K1^{1/α} times one).
    ``k1="reference"`` is the largest divisor of K ≤ √K; when that divisor is below √K/2
    (e.g. K prime) K1 = ⌊√K⌋ is used and the trailing K mod K1 samples are dropped.
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    n = x.size
    if k1 == "reference":
        k1 = reference_k1(n)
        if k1 < math.isqrt(n) / 2:
            k1 = math.isqrt(n)
    k1 = int(k1)
    if not 2 <= k1 <= n // 2:
        raise ValueError(f"k1 must be in [2, {n // 2}] for {n} samples, got {k1}")
    k2 = n // k1
    x = x[: k1 * k2]
    if np.any(x == 0):
        raise ValueError("samples contain exact zeros; drop them first (zeros='exclude')")
    block_sums = x.reshape(k2, k1).sum(axis=1)
    block_sums = block_sums[block_sums != 0]
    inverse_alpha = (np.mean(np.log(np.abs(block_sums))) - np.mean(np.log(np.abs(x)))) / math.log(k1)
    return float(1.0 / inverse_alpha)


def estimate_alpha(x, method: str = "mohammadi", zeros: str = "exclude", **options) -> float:
    """Estimate the tail index α of the samples ``x`` (any shape, flattened in C order).

    ``zeros="exclude"`` (default) drops exact zeros before estimating; ``"keep"`` raises if
    any are present (no estimator here takes log|0|).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if zeros not in ZERO_POLICIES:
        raise ValueError(f"unknown zeros policy {zeros!r}; expected one of {', '.join(ZERO_POLICIES)}")
    x = np.asarray(x).reshape(-1)
    if zeros == "exclude":
        x = drop_zeros(x)
    if not np.all(np.isfinite(x)):
        raise ValueError("samples contain NaN or inf")
    return mohammadi(x, **options)
