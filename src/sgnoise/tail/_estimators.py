"""The stable-index estimators (Mohammadi's block estimator and its order-statistic variant,
McCulloch's quantile method), the registries of every estimator (``ESTIMATORS``, ``STATISTICS``,
``FINALISERS``) and ``estimate_alpha``.

Every estimator is split into *statistics* (``STATISTICS[method]``: block terms, order statistics,
top values, quantiles) and a *finaliser* (``FINALISERS[method]``: statistics → α), so that the
streaming engine (:mod:`sgnoise.tail.streaming`) computes the same statistics from a dump read in
chunks and gets identical numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.interpolate import PchipInterpolator

from sgnoise.tail._extreme import (hill, hill_alpha, hill_statistics, moment, moment_alpha, moment_statistics, pickands,
                                   pickands_alpha, pickands_statistics)
from sgnoise.tail._samples import (MCCULLOCH_LEVELS, alpha_from_inverse, check_method, kth_smallest, order_rank,
                                   prepare_sample)


# ----------------------------------------------------------------------------- Mohammadi (Cor. 2.4)


def reference_k1(n: int) -> int:
    """Block length K1 as the reference code chooses it: the largest divisor of n not above √n."""
    if n < 4:
        raise ValueError(f"need at least 4 samples to form blocks, got {n}")
    for k1 in range(math.isqrt(n), 0, -1):
        if n % k1 == 0:
            return k1
    return 1


def median_grid_members(grid, n_used: int) -> list[int]:
    """The members of a median-policy K1 grid usable on N = ``n_used`` entries: 2 ≤ K1 ≤ N/2."""
    return [int(k) for k in grid if 2 <= int(k) <= int(n_used) // 2]


def block_lengths(n: int, k1="reference") -> list[int]:
    """The K1 values used for ``n`` samples.

    ``"reference"``: the largest divisor of n not above √n, or ⌊√n⌋ when that divisor is below
    max(2, √n/2) (n prime, say; the trailing n mod K1 samples are then dropped). An int: itself,
    which must lie in [2, n/2]. A list: its members in [2, n/2] (others skipped; none → error).
    """
    if isinstance(k1, str):
        if k1 != "reference":
            raise ValueError(f"k1 must be 'reference', an int or a list of ints, got {k1!r}")
        k = reference_k1(n)
        if k < max(2.0, math.isqrt(n) / 2):
            k = math.isqrt(n)
        if not 2 <= k <= n // 2:
            raise ValueError(f"need at least 4 samples to form blocks, got {n}")
        return [k]
    if isinstance(k1, (int, np.integer)) and not isinstance(k1, bool):
        if not 2 <= k1 <= n // 2:
            raise ValueError(f"k1 must be in [2, {n // 2}] for {n} samples, got {k1}")
        return [int(k1)]
    if not isinstance(k1, (list, tuple, np.ndarray)) or len(k1) == 0 or not all(
            isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in k1):
        raise TypeError(f"k1 must be 'reference', an int or a non-empty list of ints, got {k1!r}")
    values = [int(k) for k in k1]
    valid = sorted({k for k in values if 2 <= k <= n // 2})
    if not valid:
        raise ValueError(f"no k1 in {values} lies in [2, {n // 2}] for {n} samples")
    return valid


def block_sums(x: np.ndarray, k1: int) -> np.ndarray:
    """|Y_i| = |Σ_{j≤K1} X_{(i−1)K1+j}| over the K2 = ⌊n/K1⌋ complete blocks of consecutive samples."""
    k2 = x.size // k1
    return np.abs(x[: k1 * k2].reshape(k2, k1).sum(axis=1))


def mohammadi_block_terms(x: np.ndarray, k1: int) -> np.ndarray:
    """d_i = log|Y_i| − mean_{j in block i} log|X_j| for the complete blocks of K1 consecutive samples.

    1/α̂ = mean_i d_i / log K1 is the Mohammadi estimator; blocks whose sum is exactly 0 are dropped.
    """
    k2 = x.size // k1
    blocks = x[: k1 * k2].reshape(k2, k1)
    sums = np.abs(blocks.sum(axis=1))
    mean_logs = np.log(np.abs(blocks)).mean(axis=1)
    keep = sums != 0
    return np.log(sums[keep]) - mean_logs[keep]


def mohammadi_statistics(x: np.ndarray, k1="reference") -> dict[int, np.ndarray]:
    """{K1: block terms d} for each K1 of ``block_lengths(len(x), k1)`` (x: zero-free float64)."""
    return {k: mohammadi_block_terms(x, k) for k in block_lengths(x.size, k1)}


def median_member(values) -> int:
    """Index of the (lower) median of ``values``, so that a list of K1 reports one member's interval."""
    return int(np.argsort(np.asarray(values, dtype=float), kind="stable")[(len(values) - 1) // 2])


def mohammadi_alpha(statistics: dict[int, np.ndarray]) -> float:
    """α̂ from block terms: 1/α̂ = mean d / log K1; the median over K1 members for a K1 list."""
    values = [alpha_from_inverse(np.mean(d) / math.log(k)) if d.size else np.nan for k, d in statistics.items()]
    return float(np.median(values))


def mohammadi(x, k1="reference") -> float:
    """Mohammadi–Mohammadpour–Ogata (2015, Cor. 2.4) estimator, the paper's choice.

    With K = K1·K2 samples and block sums Y_i = Σ_{j≤K1} X_{(i−1)K1+j} of consecutive entries,
    1/α̂ = [mean log|Y_i| − mean log|X_j|] / log K1 (a sum of K1 iid SαS is K1^{1/α} times one).
    ``k1``: "reference" (largest divisor of K ≤ √K, as the paper's code), an int, or a list of ints
    whose estimates' median is returned (as Gürbüzbalaban, Şimşekli, Zhu 2021 do). See ``block_lengths``.
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if np.any(x == 0):
        raise ValueError("samples contain exact zeros; drop them first (zeros='exclude')")
    return mohammadi_alpha(mohammadi_statistics(x, k1))


# ----------------------------------------------------------------------------- Mohammadi order-statistic variant (Cor. 2.2)


@dataclass(frozen=True)
class OrderBlocks:
    """Statistics of the order-statistic estimator for one K1: all |Y_i| and the (K1·k)-th smallest
    |X_j| of the K1·K2 samples forming the blocks, k = ⌈quantile·K2⌉."""

    k1: int
    block_sums: np.ndarray
    rank: int
    sample_order_statistic: float


def mohammadi_order_statistics(x: np.ndarray, k1="reference", quantile: float = 0.5) -> list[OrderBlocks]:
    """An ``OrderBlocks`` for each K1 of ``block_lengths(len(x), k1)``: the K2 block sums |Y_i|, the rank
    k = ⌈quantile·K2⌉ and the (K1·k)-th smallest |X_j| of the K1·K2 samples forming the blocks."""
    out = []
    for k in block_lengths(x.size, k1):
        sums = block_sums(x, k)
        rank = order_rank(sums.size, quantile)
        used = np.abs(x[: k * sums.size])
        out.append(OrderBlocks(k, sums, rank, kth_smallest(used, k * rank)))
    return out


def _order_inverse(y_order_statistic, x_order_statistic, k1):
    if y_order_statistic <= 0 or x_order_statistic <= 0:
        return np.nan
    return (math.log(y_order_statistic) - math.log(x_order_statistic)) / math.log(k1)


def mohammadi_order_alpha(statistics: list[OrderBlocks]) -> float:
    """1/α̂ = [log |Y|_(k) − log |X|_(K1·k)] / log K1; NaN if an order statistic is 0; median over K1."""
    values = [alpha_from_inverse(_order_inverse(kth_smallest(s.block_sums, s.rank), s.sample_order_statistic, s.k1))
              for s in statistics]
    return float(np.median(values))


def mohammadi_order(x, k1="reference", quantile: float = 0.5) -> float:
    """Order-statistic variant of Mohammadi et al. (2015, Cor. 2.2).

    Y_i as in ``mohammadi``; since |Y| has the law of K1^{1/α}|X|, its quantiles are K1^{1/α} times
    those of |X|: 1/α̂ = [log |Y|_(k) − log |X|_(K1·k)] / log K1 with k = ⌈quantile·K2⌉ (default 0.5: medians).
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if np.any(x == 0):
        raise ValueError("samples contain exact zeros; drop them first (zeros='exclude')")
    return mohammadi_order_alpha(mohammadi_order_statistics(x, k1, quantile))


# ----------------------------------------------------------------------------- McCulloch quantile method

# ν_α = (q.95 − q.05)/(q.75 − q.25) of SαS(α) (β = 0), computed with scipy.stats.levy_stable.ppf
# (tests recompute some entries); McCulloch (1986) tabulates the same function.
_MCCULLOCH_TABLE = np.array([
    (0.50, 44.6351182475), (0.55, 31.5655692871), (0.60, 23.6121892336), (0.65, 18.4396165805),
    (0.70, 14.8937669574), (0.75, 12.3575223380), (0.80, 10.4790833727), (0.85, 9.0470161258),
    (0.90, 7.9284924506), (0.95, 7.0368658864), (1.00, 6.3137515147), (1.05, 5.7186757130),
    (1.10, 5.2228688951), (1.15, 4.8054232426), (1.20, 4.4508505934), (1.25, 4.1474938981),
    (1.30, 3.8864699466), (1.35, 3.6609460641), (1.40, 3.4656247169), (1.45, 3.2963518471),
    (1.50, 3.1497950848), (1.55, 3.0231704636), (1.60, 2.9140291632), (1.65, 2.8201275218),
    (1.70, 2.7393822320), (1.75, 2.6698816207), (1.80, 2.6099137227), (1.85, 2.5579845613),
    (1.90, 2.5128182855), (1.95, 2.4733422529), (2.00, 2.4386636364),
])


@lru_cache(maxsize=1)
def _alpha_of_log_ratio():
    alphas, ratios = _MCCULLOCH_TABLE[::-1, 0], _MCCULLOCH_TABLE[::-1, 1]
    return PchipInterpolator(np.log(ratios), alphas)


def mcculloch_alpha_from_ratio(ratio):
    """Invert ν_α(α) (monotone cubic interpolation in log ν); ν below ν(2) gives 2, above ν(0.5) gives 0.5."""
    ratio = np.asarray(ratio, dtype=np.float64)
    log_ratio = np.log(np.clip(ratio, _MCCULLOCH_TABLE[-1, 1], _MCCULLOCH_TABLE[0, 1]))
    alpha = _alpha_of_log_ratio()(log_ratio)
    alpha = np.where(np.isnan(ratio), np.nan, alpha)
    return float(alpha) if alpha.ndim == 0 else alpha


def mcculloch_levels(n: int) -> list[float]:
    """Quantile levels McCulloch's estimator and its interval need for n samples: p = .05, .25, .75,
    .95, then p − h and p + h for each (h = min(n^(−1/3)/4, 0.025), for the density estimates;
    larger h overstates 1/f in the fast-changing tails, measured ~30 % too wide at α = 0.8)."""
    h = min(n ** (-1 / 3) / 4, 0.025)
    return [*MCCULLOCH_LEVELS, *(p - h for p in MCCULLOCH_LEVELS), *(p + h for p in MCCULLOCH_LEVELS)]


def mcculloch_statistics(x: np.ndarray) -> np.ndarray:
    """Sample quantiles (inverted CDF: the ⌈p·n⌉-th smallest) of x at ``mcculloch_levels(n)``."""
    ranks = [order_rank(x.size, p) for p in mcculloch_levels(x.size)]
    partitioned = np.partition(x, sorted(set(r - 1 for r in ranks)))
    return np.array([partitioned[r - 1] for r in ranks])


def mcculloch_alpha(quantiles) -> float:
    """α̂ from the quantiles at .05, .25, .75, .95 (the first four entries)."""
    q05, q25, q75, q95 = (np.asarray(q, dtype=np.float64) for q in list(quantiles)[:4])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(q75 > q25, (q95 - q05) / (q75 - q25), np.nan)
    return mcculloch_alpha_from_ratio(ratio)


def mcculloch(x) -> float:
    """McCulloch (1986) quantile estimator, symmetric case (β = 0).

    ν_α = (x_.95 − x_.05)/(x_.75 − x_.25) is location and scale free and decreasing in α; α̂ solves
    ν_α(α) = ν̂ on a table computed from scipy's SαS quantiles, clipped to McCulloch's range [0.5, 2].
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if x.size < 4:
        raise ValueError(f"McCulloch needs at least 4 samples, got {x.size}")
    return mcculloch_alpha(mcculloch_statistics(x))


# ----------------------------------------------------------------------------- dispatch

ESTIMATORS = {"mohammadi": mohammadi, "mohammadi_order": mohammadi_order, "hill": hill, "pickands": pickands,
              "moment": moment, "mcculloch": mcculloch}


def estimate_alpha(x, method: str = "mohammadi", zeros: str = "exclude", **options) -> float:
    """Estimate the tail index α of the samples ``x`` (any shape, flattened in C order).

    ``method``: one of METHODS; ``options`` go to that estimator (mohammadi: k1; mohammadi_order:
    k1, quantile; hill, pickands, moment: k, exponent; mcculloch: none). ``zeros="exclude"`` (default) drops exact
    zeros before estimating; ``"keep"`` raises if any are present (no estimator takes log|0|).
    """
    check_method(method)
    return ESTIMATORS[method](prepare_sample(x, zeros), **options)


STATISTICS = {"mohammadi": mohammadi_statistics, "mohammadi_order": mohammadi_order_statistics,
              "hill": hill_statistics, "pickands": pickands_statistics, "moment": moment_statistics,
              "mcculloch": mcculloch_statistics}
FINALISERS = {"mohammadi": mohammadi_alpha, "mohammadi_order": mohammadi_order_alpha,
              "hill": hill_alpha, "pickands": pickands_alpha, "moment": moment_alpha, "mcculloch": mcculloch_alpha}

