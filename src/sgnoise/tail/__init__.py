"""Tail-index (α) estimators for symmetric α-stable (SαS) samples, their confidence intervals,
and Gaussianity tests.

Every estimator is split into *statistics* (what it needs from the sample: block terms, order
statistics, top values, moments) and a *finaliser* (statistics → α). ``estimate_alpha`` computes
the statistics from an array in memory; ``sgnoise.tail.views`` computes the very same statistics from
a noise dump read in chunks, so both paths give identical numbers.

Samples are 1-D, flattened in C order, free of exact zeros (``drop_zeros``; no estimator here ever
takes log|0|).

Estimates outside the stable range (0, 2], one convention for every estimator: α̂ is reported as
computed, never clipped (Hill, Pickands and the moment estimator estimate a Pareto-type tail index,
which can exceed 2, e.g. Hill's +8.7 on Gaussian samples; the block estimators can too); every
estimator that estimates 1/α = γ (Mohammadi's 1/α̂, Hill's, Pickands' and the moment estimator's γ̂)
reports γ̂ ≤ 0 (possible on small samples, or on light tails for Pickands and the moment
estimator) as α̂ = +inf (``alpha_from_inverse``), and an undefined γ̂ (ties, an order statistic
equal to 0) as NaN. Interval ends follow the same rule (``inverse_interval``). The one exception is
McCulloch's, whose quantile table spans α ∈ [0.5, 2] only: its α̂ lies there by construction.
Figures clip α̂ to their axis and say so; the tables keep the computed values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats as scipy_stats
from scipy.interpolate import PchipInterpolator

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


def order_rank(n: int, level: float) -> int:
    """1-based rank ⌈level·n⌉ (clipped to [1, n]) of the sample quantile at ``level`` (inverted CDF)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return int(min(max(math.ceil(level * n - 1e-9), 1), n))


def kth_smallest(values: np.ndarray, rank: int) -> float:
    """The ``rank``-th smallest (1-based) entry of a 1-D array."""
    return float(np.partition(values, rank - 1)[rank - 1])


@dataclass(frozen=True)
class OrderBlocks:
    """Statistics of the order-statistic estimator for one K1: all |Y_i| and the (K1·k)-th smallest
    |X_j| of the K1·K2 samples forming the blocks, k = ⌈quantile·K2⌉."""

    k1: int
    block_sums: np.ndarray
    rank: int
    sample_order_statistic: float


def mohammadi_order_statistics(x: np.ndarray, k1="reference", quantile: float = 0.5) -> list[OrderBlocks]:
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


# ----------------------------------------------------------------------------- upper order statistics: Hill, Pickands, moment


def top_magnitudes(x: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` largest |x| in decreasing order (along axis 0 for a 2-D x: per column)."""
    n = x.shape[0]
    top = np.partition(np.abs(x), n - count, axis=0)[n - count:]
    return np.sort(top, axis=0)[::-1]


def hill_k(n: int, k=None, exponent: float = HILL_EXPONENT, minimum: int = 1, per_k: int = 1, extra: int = 1) -> int:
    """Number k of upper order statistics of a tail estimator on n samples: ``k`` if given, else
    ⌊n^exponent / per_k⌋ (default ⌊n^0.6⌋), clipped to [minimum, (n − extra)/per_k]. The estimator
    reads the per_k·k + extra − 1 largest |x| (Hill, moment: k + 1; Pickands: 4k).

    Why n^0.6: the estimators are consistent when k → ∞ and k/n → 0; for stable tails (second-order
    index ρ = −α, a Pareto tail plus a term of relative size x^−α) the mean-square-optimal Hill k grows
    like n^(2/3) (Hall & Welsh 1985), and n^0.6, just below it, trades a little variance for less
    bias: on 10^6 SαS samples Hill's |bias| stays ≤ 0.03 for α ≤ 1.5 (measured). The choice is one
    fixed rule for every dump (no data-driven k), so that estimates of different runs are comparable.
    """
    if n < minimum * per_k + extra:
        raise ValueError(f"need at least {minimum * per_k + extra} samples, got {n}")
    if k is None:
        if not 0 < exponent < 1:
            raise ValueError(f"exponent must be in (0, 1), got {exponent}")
        k = int(math.floor(n**exponent / per_k))
    elif isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive int or None, got {k!r}")
    return int(min(max(k, minimum), (n - extra) // per_k))


def hill_statistics(x: np.ndarray, k=None, exponent: float = HILL_EXPONENT) -> np.ndarray:
    """The k+1 largest |x| in decreasing order."""
    return top_magnitudes(x, hill_k(x.shape[0], k, exponent) + 1)


def _log_excesses(top: np.ndarray) -> np.ndarray:
    """log(|X|_(i) / |X|_(k+1)) for i ≤ k, from the k+1 largest |x| in decreasing order (axis 0)."""
    logs = np.log(top)
    return logs[:-1] - logs[-1]


def hill_alpha(top: np.ndarray) -> float:
    """1/α̂ = (1/k) Σ_{i≤k} log(|X|_(i) / |X|_(k+1)), |X|_(1) ≥ |X|_(2) ≥ … (Hill 1975); along axis 0."""
    return alpha_from_inverse(np.mean(_log_excesses(top), axis=0))


def hill(x, k=None, exponent: float = HILL_EXPONENT) -> float:
    """Hill (1975) estimator on |x| with the k upper order statistics, k = ⌊n^0.6⌋ unless given
    (``hill_k`` says why n^0.6).

    1/α̂ = (1/k) Σ_{i≤k} log(|X|_(i)/|X|_(k+1)). Consistent for Pareto-type tails; for SαS with
    α ≳ 1.5 the Gaussian-like core biases it upwards at any practical k (Mittnik & Rachev 1996).
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    return hill_alpha(hill_statistics(x, k, exponent))


PICKANDS_PER_K = 4


def pickands_k(n: int, k=None, exponent: float = HILL_EXPONENT) -> int:
    """Pickands' k: ``k`` if given, else ⌊n^0.6 / 4⌋, so that its 4k order statistics are the same
    top ⌊n^0.6⌋ values (the same tail fraction) that Hill uses; at most n/4."""
    return hill_k(n, k, exponent, per_k=PICKANDS_PER_K, extra=0)


def pickands_statistics(x: np.ndarray, k=None, exponent: float = HILL_EXPONENT) -> np.ndarray:
    """The 4k largest |x| in decreasing order (k from ``pickands_k``)."""
    return top_magnitudes(x, PICKANDS_PER_K * pickands_k(x.shape[0], k, exponent))


def pickands_gamma(top: np.ndarray):
    """γ̂ = log[(X_(k) − X_(2k)) / (X_(2k) − X_(4k))] / log 2 from the 4k largest |x| in decreasing
    order (X_(j): the j-th largest; along axis 0). Ties X_(2k) = X_(4k) give NaN."""
    k = top.shape[0] // PICKANDS_PER_K
    first, second, fourth = top[k - 1], top[2 * k - 1], top[4 * k - 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        gamma = np.where(second > fourth, np.log((first - second) / (second - fourth)) / math.log(2), np.nan)
    return float(gamma) if gamma.ndim == 0 else gamma


def pickands_alpha(top: np.ndarray) -> float:
    """α̂ = 1/γ̂ (``pickands_gamma``); γ̂ ≤ 0 gives +inf."""
    return alpha_from_inverse(pickands_gamma(top))


def pickands(x, k=None, exponent: float = HILL_EXPONENT) -> float:
    """Pickands (1975) estimator on |x|.

    With X_(1) ≥ X_(2) ≥ … the order statistics of |x| (X_(n−k+1) in increasing notation is the k-th
    largest), γ̂ = log[(X_(k) − X_(2k)) / (X_(2k) − X_(4k))] / log 2 and α̂ = 1/γ̂. Location and
    scale invariant, valid for any extreme-value index; √k(γ̂ − γ) → N(0, γ²(2^{2γ+1} + 1) /
    (2(2^γ − 1) log 2)²) (Dekkers & de Haan 1989, Thm 2.3): about 4 times Hill's variance at γ = 2/3.
    k = ⌊n^0.6 / 4⌋ unless given (``pickands_k``: the same top ⌊n^0.6⌋ values as Hill).
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    return pickands_alpha(pickands_statistics(x, k, exponent))


def moment_k(n: int, k=None, exponent: float = HILL_EXPONENT) -> int:
    """The moment estimator's k: as Hill's (``hill_k``: ⌊n^0.6⌋), at least 2 (M2 = M1² at k = 1)."""
    return hill_k(n, k, exponent, minimum=2)


def moment_statistics(x: np.ndarray, k=None, exponent: float = HILL_EXPONENT) -> np.ndarray:
    """The k+1 largest |x| in decreasing order (k from ``moment_k``)."""
    return top_magnitudes(x, moment_k(x.shape[0], k, exponent) + 1)


def moment_gamma(top: np.ndarray):
    """γ̂ = M1 + 1 − ½ (1 − M1²/M2)⁻¹ with M_j = (1/k) Σ_{i≤k} (log X_(i) − log X_(k+1))^j, from the
    k+1 largest |x| in decreasing order (along axis 0). M2 = 0 (all equal) gives NaN."""
    excesses = _log_excesses(top)
    m1, m2 = excesses.mean(axis=0), (excesses * excesses).mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        gamma = np.where(m2 > 0, m1 + 1 - 0.5 / (1 - m1 * m1 / m2), np.nan)
    return float(gamma) if gamma.ndim == 0 else gamma


def moment_alpha(top: np.ndarray) -> float:
    """α̂ = 1/γ̂ (``moment_gamma``); γ̂ ≤ 0 gives +inf."""
    return alpha_from_inverse(moment_gamma(top))


def moment(x, k=None, exponent: float = HILL_EXPONENT) -> float:
    """Moment estimator of Dekkers, Einmahl & de Haan (1989) on log|x|.

    M_j = (1/k) Σ_{i≤k} (log X_(n−i+1) − log X_(n−k))^j (X_(n−i+1): the i-th largest |x|; M1 is
    Hill's 1/α̂), γ̂ = M1 + 1 − ½ (1 − M1²/M2)⁻¹, α̂ = 1/γ̂. The correction term makes it
    consistent for every extreme-value index (Hill only for γ > 0); √k(γ̂ − γ) → N(0, 1 + γ²) for
    γ > 0 (their Thm 3.1). k = ⌊n^0.6⌋ unless given, as Hill (``hill_k``).
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    return moment_alpha(moment_statistics(x, k, exponent))


def top_count(method: str, n: int, k=None, exponent: float = HILL_EXPONENT) -> int:
    """How many of the largest |x| the upper-order-statistic estimator ``method`` (TOP_METHODS) reads
    from n samples: k + 1 (Hill, moment) or 4k (Pickands)."""
    if method == "pickands":
        return PICKANDS_PER_K * pickands_k(n, k, exponent)
    return (moment_k if method == "moment" else hill_k)(n, k, exponent) + 1


TOP_K = {"hill": hill_k, "moment": moment_k, "pickands": pickands_k}  # k of each TOP_METHODS estimator (validated, clipped)


def k_grid(n: int, points: int = 60, method: str = "hill") -> np.ndarray:
    """About ``points`` log-spaced k from the smallest to the largest the estimator ``method`` of
    TOP_METHODS accepts on n samples (Hill 1 … n − 1, moment 2 … n − 1, Pickands 1 … n/4)."""
    low, high = (2, n - 1) if method == "moment" else (1, n // PICKANDS_PER_K if method == "pickands" else n - 1)
    if high < low:
        return np.empty(0, dtype=np.int64)
    return np.unique(np.round(np.geomspace(low, high, points)).astype(np.int64))


def tail_index_curves(x, ks: dict, zeros: str = "exclude") -> dict:
    """α̂(k) of the upper-order-statistic estimators at many k at once (the data of a Hill plot):
    ``ks`` maps each method of TOP_METHODS to an array of k; returns method → α̂ array, equal to
    ``hill(x, k)``, ``moment(x, k)``, ``pickands(x, k)`` at every k (one sort, then cumulative sums:
    with L_i = log X_(i) of the i-th largest |x| and S_j(k) = Σ_{i≤k} L_i^j, Hill's 1/α̂ is
    M1 = S_1/k − L_{k+1}, the moment estimator's M2 = S_2/k − 2 L_{k+1} S_1/k + L_{k+1}²)."""
    x = prepare_sample(x, zeros)
    n = x.size
    effective = {}
    for method, values in ks.items():
        if method not in TOP_METHODS:
            raise ValueError(f"tail_index_curves: method must be one of {TOP_METHODS}, got {method!r}")
        # each k validated and clipped as the scalar estimator does it
        effective[method] = np.array([TOP_K[method](n, k) for k in np.asarray(values).tolist()], dtype=np.int64)
    need = max([top_count(m, n, int(k.max())) for m, k in effective.items() if k.size] or [0])
    if need == 0:
        return {method: np.empty(0) for method in ks}
    top = top_magnitudes(x, need)
    logs = np.log(top)
    s1, s2 = np.cumsum(logs), np.cumsum(logs * logs)
    curves = {}
    for method, k in effective.items():
        if method == "pickands":
            first, second, fourth = top[k - 1], top[2 * k - 1], top[4 * k - 1]
            with np.errstate(divide="ignore", invalid="ignore"):
                gamma = np.where(second > fourth, np.log((first - second) / (second - fourth)) / math.log(2), np.nan)
        else:
            threshold = logs[k]
            m1 = s1[k - 1] / k - threshold
            if method == "hill":
                gamma = m1
            else:
                m2 = s2[k - 1] / k - 2 * threshold * s1[k - 1] / k + threshold * threshold
                with np.errstate(divide="ignore", invalid="ignore"):
                    gamma = np.where(m2 > 0, m1 + 1 - 0.5 / (1 - m1 * m1 / m2), np.nan)
        curves[method] = np.atleast_1d(alpha_from_inverse(gamma)).astype(np.float64)
    return curves


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


def mcculloch_analytic_interval(quantiles, n: int, level: float = 0.95):
    """Delta method: sample quantiles are asymptotically normal with Cov(q_p, q_r) =
    (min(p, r) − p r) / (n f(q_p) f(q_r)); 1/f(q_p) is estimated by the spacing (q_{p+h} − q_{p−h}) · n /
    (rank difference) (Siddiqui 1960). The interval for ν_α maps through the monotone table to α."""
    quantiles = np.asarray(quantiles, dtype=np.float64)
    levels = np.array(mcculloch_levels(n))
    main = quantiles[:4]
    ranks = np.array([order_rank(n, p) for p in levels])
    inverse_density = (quantiles[8:] - quantiles[4:8]) * n / np.maximum(ranks[8:] - ranks[4:8], 1)
    q05, q25, q75, q95 = main
    if not q75 > q25:
        return np.nan, np.nan
    ratio = (q95 - q05) / (q75 - q25)
    gradient = np.array([-1.0, ratio, -ratio, 1.0]) / (q75 - q25)  # ∂ν/∂(q05, q25, q75, q95)
    p = np.array(MCCULLOCH_LEVELS)
    covariance = (np.minimum.outer(p, p) - np.outer(p, p)) * np.outer(inverse_density, inverse_density) / n
    half = _z(level) * math.sqrt(max(gradient @ covariance @ gradient, 0.0))
    return mcculloch_alpha_from_ratio(ratio + half), mcculloch_alpha_from_ratio(max(ratio - half, 0.0))


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


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")


def estimate_alpha(x, method: str = "mohammadi", zeros: str = "exclude", **options) -> float:
    """Estimate the tail index α of the samples ``x`` (any shape, flattened in C order).

    ``method``: one of METHODS; ``options`` go to that estimator (mohammadi: k1; mohammadi_order:
    k1, quantile; hill, pickands, moment: k, exponent; mcculloch: none). ``zeros="exclude"`` (default) drops exact
    zeros before estimating; ``"keep"`` raises if any are present (no estimator takes log|0|).
    """
    check_method(method)
    return ESTIMATORS[method](prepare_sample(x, zeros), **options)


# ----------------------------------------------------------------------------- confidence intervals


@dataclass(frozen=True)
class AlphaEstimate:
    """α̂ with its interval, how the interval was made ("analytic", "bootstrap", "none"), and the
    number of samples used."""

    alpha: float
    ci_low: float
    ci_high: float
    ci_method: str
    n_samples: int


def inverse_interval(inverse_low, inverse_high):
    """α interval from an interval [a, b] of 1/α: [1/b, 1/a], with 1/a = +inf for a ≤ 0."""
    return alpha_from_inverse(inverse_high), alpha_from_inverse(inverse_low)


def _z(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"ci level must be in (0, 1), got {level}")
    return float(scipy_stats.norm.ppf(0.5 + level / 2))


def mohammadi_analytic_interval(terms: np.ndarray, k1: int, level: float = 0.95):
    """Delta method over the K2 block terms, iid for iid samples: 1/α̂ ± z·sd(d)/(√K2 log K1)."""
    if terms.size < 2:
        return np.nan, np.nan
    centre = np.mean(terms) / math.log(k1)
    half = _z(level) * np.std(terms, ddof=1) / math.sqrt(terms.size) / math.log(k1)
    return inverse_interval(centre - half, centre + half)


def percentile_interval(inverse_replicates: np.ndarray, level: float):
    """Percentile interval of bootstrap replicates of 1/α, returned as an α interval."""
    outside = (1 - level) / 2
    low, high = np.quantile(inverse_replicates, [outside, 1 - outside])
    return inverse_interval(low, high)


def mohammadi_bootstrap_interval(terms: np.ndarray, k1: int, level: float, replicates: int, group: int, rng):
    """Block bootstrap of the Mohammadi estimator: resample groups of ``group`` consecutive K1-blocks
    (i.e. blocks of group·K1 consecutive samples) with replacement; exact and cheap because
    1/α̂ = Σ d / (count · log K1) only needs each group's sum and count of block terms."""
    if terms.size < 2:
        return np.nan, np.nan
    group = int(min(max(group, 1), max(terms.size // 2, 1)))
    starts = np.arange(0, terms.size, group)
    sums = np.add.reduceat(terms, starts)
    counts = np.diff(np.append(starts, terms.size))
    picks = rng.integers(0, starts.size, size=(replicates, starts.size))
    inverse = sums[picks].sum(axis=1) / counts[picks].sum(axis=1) / math.log(k1)
    return percentile_interval(inverse, level)


def mohammadi_order_analytic_interval(statistics: OrderBlocks, level: float = 0.95):
    """Distribution-free interval for the quantile of |Y|: order statistics |Y|_(l), |Y|_(u) with
    l, u from Binomial(K2, k/K2) (|X|_(K1·k), from K1 times more samples, is taken as exact)."""
    sums = np.sort(statistics.block_sums)
    k2 = sums.size
    p = statistics.rank / k2
    outside = (1 - level) / 2
    low_rank = int(max(scipy_stats.binom.ppf(outside, k2, p), 1))
    high_rank = int(min(scipy_stats.binom.ppf(1 - outside, k2, p) + 1, k2))
    low = _order_inverse(sums[low_rank - 1], statistics.sample_order_statistic, statistics.k1)
    high = _order_inverse(sums[high_rank - 1], statistics.sample_order_statistic, statistics.k1)
    return inverse_interval(low, high)


def hill_analytic_interval(top: np.ndarray, level: float = 0.95):
    """√k (1/α̂ − 1/α) α → N(0, 1) (Hall 1982), ignoring bias: 1/α ∈ (1/α̂)(1 ± z/√k)."""
    k = top.size - 1
    logs = np.log(top)
    inverse = np.mean(logs[:-1] - logs[-1])
    half = _z(level) / math.sqrt(k)
    return inverse_interval(inverse * (1 - half), inverse * (1 + half))


def pickands_variance(gamma):
    """Asymptotic variance of √k(γ̂ − γ) for Pickands: γ²(2^{2γ+1} + 1) / (2(2^γ − 1) log 2)²
    (Dekkers & de Haan 1989), (2 + 1)/(4 log⁴ 2) in the limit γ → 0."""
    if gamma == 0:
        return 3 / (4 * math.log(2) ** 4)
    return gamma**2 * (2 ** (2 * gamma + 1) + 1) / (2 * (2**gamma - 1) * math.log(2)) ** 2


def moment_variance(gamma):
    """Asymptotic variance of √k(γ̂ − γ) for the moment estimator (Dekkers, Einmahl & de Haan 1989,
    Thm 3.1): 1 + γ² for γ ≥ 0; (1 − γ)²(1 − 2γ)(1 − γ + 6γ²) / ((1 − 3γ)(1 − 4γ)) for γ < 0."""
    if gamma >= 0:
        return 1 + gamma**2
    return (1 - gamma) ** 2 * (1 - 2 * gamma) * (1 - gamma + 6 * gamma**2) / ((1 - 3 * gamma) * (1 - 4 * gamma))


def _gamma_interval(gamma, variance, k: int, level: float):
    """α interval from γ̂ ± z √(variance(γ̂)/k) (asymptotic normality, bias ignored); NaN for a NaN γ̂."""
    if not np.isfinite(gamma):
        return np.nan, np.nan
    half = _z(level) * math.sqrt(variance(gamma) / k)
    return inverse_interval(gamma - half, gamma + half)


def pickands_analytic_interval(top: np.ndarray, level: float = 0.95):
    """√k(γ̂ − γ) → N(0, ``pickands_variance``(γ)), ignoring bias, with γ̂ plugged into the variance."""
    return _gamma_interval(pickands_gamma(top), pickands_variance, top.size // PICKANDS_PER_K, level)


def moment_analytic_interval(top: np.ndarray, level: float = 0.95):
    """√k(γ̂ − γ) → N(0, ``moment_variance``(γ)), ignoring bias, with γ̂ plugged into the variance."""
    return _gamma_interval(moment_gamma(top), moment_variance, top.size - 1, level)


def block_bootstrap_replicates(x: np.ndarray, statistic, block_size: int, replicates: int, rng) -> np.ndarray:
    """Non-overlapping block bootstrap: cut x into ⌊n/L⌋ blocks of L consecutive samples, draw that
    many with replacement, apply ``statistic`` to each concatenated resample."""
    n_blocks = x.size // block_size
    if n_blocks < 2:
        raise ValueError(f"block_size {block_size} leaves fewer than 2 blocks of {x.size} samples")
    blocks = x[: n_blocks * block_size].reshape(n_blocks, block_size)
    picks = rng.integers(0, n_blocks, size=(replicates, n_blocks))
    return np.array([statistic(blocks[row].reshape(-1)) for row in picks])


def resolve_ci_method(ci: str, method: str) -> str:
    """The interval actually computed: 'auto' → 'analytic' (every method has one; cheap), else ``ci``."""
    check_method(method)
    if ci not in CI_METHODS:
        raise ValueError(f"unknown ci method {ci!r}; expected one of {', '.join(CI_METHODS)}")
    return "analytic" if ci == "auto" else ci


def default_block_size(n: int) -> int:
    """Bootstrap block length when none is given: ⌊√n⌋ samples (about √n blocks)."""
    return max(1, math.isqrt(n))


STATISTICS = {"mohammadi": mohammadi_statistics, "mohammadi_order": mohammadi_order_statistics,
              "hill": hill_statistics, "pickands": pickands_statistics, "moment": moment_statistics,
              "mcculloch": mcculloch_statistics}
FINALISERS = {"mohammadi": mohammadi_alpha, "mohammadi_order": mohammadi_order_alpha,
              "hill": hill_alpha, "pickands": pickands_alpha, "moment": moment_alpha, "mcculloch": mcculloch_alpha}


TOP_INTERVALS = {"hill": hill_analytic_interval, "pickands": pickands_analytic_interval, "moment": moment_analytic_interval}


def interval_from_statistics(method: str, statistics, how: str, level: float = 0.95, replicates: int = 200,
                             block_size: int = 1, rng=None, n_samples: int | None = None):
    """Confidence interval from an estimator's statistics (as ``STATISTICS[method]`` returns them).

    ``how="analytic"`` for every method (mcculloch also needs ``n_samples``); ``how="bootstrap"``
    only for mohammadi (its block terms suffice; other methods need the sample, see
    ``estimate_alpha_ci``). With a K1 list the interval is that of the median member.
    Returns (NaN, NaN) for ``how="none"``.
    """
    if how == "none":
        return np.nan, np.nan
    if method == "mohammadi":
        members = list(statistics.items())
        k1, terms = members[median_member([mohammadi_alpha({k: d}) for k, d in members])]
        if how == "bootstrap":
            rng = np.random.default_rng(rng)
            return mohammadi_bootstrap_interval(terms, k1, level, replicates, round(block_size / k1), rng)
        return mohammadi_analytic_interval(terms, k1, level)
    if how != "analytic":
        raise ValueError(f"a {how} interval for {method} needs the sample, not its statistics")
    if method == "mohammadi_order":
        member = statistics[median_member([mohammadi_order_alpha([s]) for s in statistics])]
        return mohammadi_order_analytic_interval(member, level)
    if method in TOP_METHODS:
        return TOP_INTERVALS[method](statistics, level)
    return mcculloch_analytic_interval(statistics, n_samples, level)


def estimate_alpha_ci(x, method: str = "mohammadi", zeros: str = "exclude", ci: str = "auto", level: float = 0.95,
                      replicates: int = 200, block_size: int | None = None, seed: int = 0, **options) -> AlphaEstimate:
    """α̂ of ``x`` with a ``level`` confidence interval (see ``estimate_alpha`` for method/zeros/options).

    ``ci``: "analytic" (mohammadi: delta method over block terms; mohammadi_order: binomial
    order-statistic interval; hill: asymptotic normality; mcculloch: delta method on the
    quantiles), "bootstrap" (seeded non-overlapping block bootstrap with blocks of ``block_size``
    consecutive samples, default ⌊√n⌋, at most n/2; percentile interval on 1/α), "auto"
    (= analytic) or "none". Same seed → same interval.
    """
    check_method(method)
    sample = prepare_sample(x, zeros)
    how = resolve_ci_method(ci, method)
    _z(level)  # checks the level
    if how == "bootstrap" and (isinstance(replicates, bool) or not isinstance(replicates, (int, np.integer)) or replicates < 2):
        raise ValueError(f"replicates must be an int of at least 2, got {replicates!r}")
    block = default_block_size(sample.size) if block_size is None else block_size
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1:
        raise ValueError(f"block_size must be a positive int or None, got {block_size!r}")
    block = min(int(block), max(sample.size // 2, 1))  # at least two blocks to resample
    statistics = STATISTICS[method](sample, **options)
    alpha = FINALISERS[method](statistics)
    if how == "bootstrap" and method != "mohammadi":
        estimator = ESTIMATORS[method]
        rng = np.random.default_rng(seed)
        alphas = block_bootstrap_replicates(sample, lambda resample: estimator(resample, **options), int(block), replicates, rng)
        with np.errstate(divide="ignore"):
            low, high = percentile_interval(1.0 / alphas, level)
    else:
        low, high = interval_from_statistics(method, statistics, how, level, replicates, int(block), seed, sample.size)
    return AlphaEstimate(alpha, low, high, how, sample.size)


# ----------------------------------------------------------------------------- per-coordinate estimates


def _columns_mohammadi(sample, k1="reference"):
    n, m = sample.shape
    values = []
    for k in block_lengths(n, k1):
        k2 = n // k
        blocks = sample[: k * k2].reshape(k2, k, m)
        sums = np.abs(blocks.sum(axis=1))
        mean_logs = np.log(np.abs(blocks)).mean(axis=1)
        with np.errstate(divide="ignore"):
            terms = np.where(sums != 0, np.log(sums) - mean_logs, np.nan)
        inverse = (np.nanmean(terms, axis=0) if np.isnan(terms).any() else terms.mean(axis=0)) / math.log(k)
        values.append(alpha_from_inverse(inverse))
    return np.median(np.array(values), axis=0)


def _columns_mohammadi_order(sample, k1="reference", quantile=0.5):
    n, m = sample.shape
    values = []
    for k in block_lengths(n, k1):
        k2 = n // k
        used = sample[: k * k2]
        rank = order_rank(k2, quantile)
        y = np.partition(np.abs(used.reshape(k2, k, m).sum(axis=1)), rank - 1, axis=0)[rank - 1]
        x = np.partition(np.abs(used), k * rank - 1, axis=0)[k * rank - 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            inverse = np.where((y > 0) & (x > 0), (np.log(y) - np.log(x)) / math.log(k), np.nan)
        values.append(alpha_from_inverse(inverse))
    return np.median(np.array(values), axis=0)


def _columns_top(method):
    def estimate(sample, k=None, exponent=HILL_EXPONENT):
        return FINALISERS[method](top_magnitudes(sample, top_count(method, sample.shape[0], k, exponent)))
    return estimate


def _columns_mcculloch(sample):
    n = sample.shape[0]
    ranks = [order_rank(n, p) for p in MCCULLOCH_LEVELS]
    partitioned = np.partition(sample, sorted(set(r - 1 for r in ranks)), axis=0)
    return mcculloch_alpha([partitioned[r - 1] for r in ranks])


_COLUMN_ESTIMATORS = {"mohammadi": _columns_mohammadi, "mohammadi_order": _columns_mohammadi_order,
                      **{method: _columns_top(method) for method in TOP_METHODS}, "mcculloch": _columns_mcculloch}


def minimum_samples(method: str, **options) -> int:
    """Smallest sample size an estimator accepts (fewer → NaN in per-coordinate estimates)."""
    if method in ("mohammadi", "mohammadi_order"):
        k1 = options.get("k1", "reference")
        return 4 if isinstance(k1, str) else 2 * (min(k1) if np.ndim(k1) else int(k1))
    return {"hill": 2, "moment": 3}.get(method, 4)  # pickands: 4k ≤ n; mcculloch: 4 quantiles


def compact_nonzero(matrix: np.ndarray):
    """Move each column's nonzero entries to the top, in their original order; return (compact, counts)."""
    nonzero = matrix != 0
    order = np.argsort(~nonzero, axis=0, kind="stable")
    return np.take_along_axis(matrix, order, axis=0), nonzero.sum(axis=0)


def alpha_per_column(matrix, method: str = "mohammadi", zeros: str = "exclude", **options) -> np.ndarray:
    """α̂ of every column of a (samples × coordinates) matrix, each column its own sample.

    Same estimators and options as ``estimate_alpha``; with ``zeros="exclude"`` each column's exact
    zeros are dropped first (columns are grouped by their count of nonzero samples and estimated
    together). Columns with too few samples get NaN.
    """
    check_method(method)
    if zeros not in ZERO_POLICIES:
        raise ValueError(f"unknown zeros policy {zeros!r}; expected one of {', '.join(ZERO_POLICIES)}")
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be 2-D (samples × coordinates), got shape {matrix.shape}")
    if not np.all(np.isfinite(matrix)):
        raise ValueError("matrix contains NaN or inf")
    estimator = _COLUMN_ESTIMATORS[method]
    n, m = matrix.shape
    out = np.full(m, np.nan)
    if zeros == "keep":
        if np.any(matrix == 0):
            raise ValueError("matrix contains exact zeros and zeros='keep' (use zeros='exclude')")
        compact, counts = matrix, np.full(m, n)
    elif np.all(matrix != 0):
        compact, counts = matrix, np.full(m, n)
    else:
        compact, counts = compact_nonzero(matrix)
    smallest = minimum_samples(method, **options)
    for count in np.unique(counts):
        if count < smallest:
            continue
        if count == n and counts.min() == n:
            out[:] = estimator(compact, **options)
            continue
        columns = np.flatnonzero(counts == count)
        out[columns] = estimator(np.ascontiguousarray(compact[:count][:, columns]), **options)
    return out


# ----------------------------------------------------------------------------- Gaussianity


def central_moments(x: np.ndarray):
    """(n, mean, m2, m3, m4) with m_p = (1/n) Σ (x − mean)^p, along axis 0 (x 1-D or 2-D)."""
    n = x.shape[0]
    mean = x.mean(axis=0)
    centred = x - mean
    squared = centred * centred
    return n, mean, squared.mean(axis=0), (squared * centred).mean(axis=0), (squared * squared).mean(axis=0)


def normality_from_moments(n, m2, m3, m4, test: str = "dagostino"):
    """(statistic, p-value) of a moment-based normality test, vectorised over arrays of moments.

    ``dagostino``: D'Agostino–Pearson K² = Z(√b1)² + Z(b2)², skewness transform of D'Agostino (1970)
    and kurtosis transform of Anscombe & Glynn (1983), K² ~ χ²₂ (needs n ≥ 8; best n ≥ 20).
    ``jarque_bera``: JB = n/6 (S² + (K − 3)²/4) ~ χ²₂ (Jarque & Bera 1980).
    """
    if test not in NORMALITY_TESTS:
        raise ValueError(f"unknown normality test {test!r}; expected one of {', '.join(NORMALITY_TESTS)}")
    n = np.asarray(n, dtype=np.float64)
    m2, m3, m4 = (np.asarray(v, dtype=np.float64) for v in (m2, m3, m4))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        skewness = np.where(m2 > 0, m3 / m2**1.5, np.nan)
        kurtosis = np.where(m2 > 0, m4 / m2**2, np.nan)
        if test == "jarque_bera":
            statistic = n / 6.0 * (skewness**2 + (kurtosis - 3.0) ** 2 / 4.0)
        else:
            if np.any(n < 8):
                raise ValueError("the D'Agostino–Pearson test needs at least 8 samples")
            y = skewness * np.sqrt((n + 1) * (n + 3) / (6.0 * (n - 2)))
            beta2 = 3.0 * (n**2 + 27 * n - 70) * (n + 1) * (n + 3) / ((n - 2) * (n + 5) * (n + 7) * (n + 9))
            w2 = -1 + np.sqrt(2 * (beta2 - 1))
            delta = 1 / np.sqrt(0.5 * np.log(w2))
            scale = np.sqrt(2 / (w2 - 1))
            z_skew = delta * np.arcsinh(y / scale)
            expected = 3.0 * (n - 1) / (n + 1)
            variance = 24.0 * n * (n - 2) * (n - 3) / ((n + 1) ** 2 * (n + 3) * (n + 5))
            standardised = (kurtosis - expected) / np.sqrt(variance)
            root_beta1 = (6.0 * (n**2 - 5 * n + 2) / ((n + 7) * (n + 9))
                          * np.sqrt(6.0 * (n + 3) * (n + 5) / (n * (n - 2) * (n - 3))))
            a = 6.0 + 8.0 / root_beta1 * (2.0 / root_beta1 + np.sqrt(1 + 4.0 / root_beta1**2))
            denominator = 1 + standardised * np.sqrt(2 / (a - 4.0))
            cube = np.sign(denominator) * np.cbrt((1 - 2.0 / a) / np.abs(denominator))
            z_kurtosis = (1 - 2.0 / (9 * a) - cube) / np.sqrt(2 / (9 * a))
            statistic = z_skew**2 + z_kurtosis**2
        pvalue = np.exp(-statistic / 2)  # χ²₂ survival function
    if statistic.ndim == 0:
        return float(statistic), float(pvalue)
    return statistic, pvalue


def gaussian_moment_null(n):
    """Exact mean and variance, under i.i.d. Gaussian sampling of n values, of the sample skewness
    g1 = m3/m2^1.5 and kurtosis b2 = m4/m2² (m_p central moments with 1/n): E g1 = 0,
    Var g1 = 6(n−2)/((n+1)(n+3)), E b2 = 3(n−1)/(n+1), Var b2 = 24n(n−2)(n−3)/((n+1)²(n+3)(n+5))
    (Fisher 1930; Pearson 1931). Returns (var_g1, mean_b2, var_b2), vectorised over n."""
    n = np.asarray(n, dtype=np.float64)
    return (6.0 * (n - 2) / ((n + 1) * (n + 3)), 3.0 * (n - 1) / (n + 1),
            24.0 * n * (n - 2) * (n - 3) / ((n + 1) ** 2 * (n + 3) * (n + 5)))


COLUMN_TEST_MINIMUM = 8  # columns with fewer (non-zero) samples take no part in the column omnibus


def column_omnibus(counts, m2, m3, m4):
    """Omnibus Gaussianity test over many columns, each with its own location and scale.

    H0: every column is an i.i.d. Gaussian sample (any mean, any variance), columns independent.
    Each column's skewness g1_j and kurtosis b2_j are location- and scale-free, so dividing a column
    by any scale (the normalised view) or centring it (rows of a zero-sum partition) leaves them
    unchanged. With the exact finite-n null moments of ``gaussian_moment_null`` (n_j = the column's
    sample count, so zero patterns are allowed)
    Z_s = Σ g1_j / √(Σ Var g1(n_j)),  Z_k = Σ (b2_j − E b2(n_j)) / √(Σ Var b2(n_j)),
    K² = Z_s² + Z_k² → χ²₂ as the number of columns grows (central limit theorem over columns;
    g1 and b2 are uncorrelated under H0). Columns with fewer than ``COLUMN_TEST_MINIMUM`` samples or
    zero variance are left out. Returns (K², p-value, number of columns used); NaN without columns.
    """
    counts = np.asarray(counts, dtype=np.float64)
    m2, m3, m4 = (np.asarray(v, dtype=np.float64) for v in (m2, m3, m4))
    usable = (counts >= COLUMN_TEST_MINIMUM) & (m2 > 0) & np.isfinite(m2) & np.isfinite(m3) & np.isfinite(m4)
    if not usable.any():
        return np.nan, np.nan, 0
    n, m2, m3, m4 = counts[usable], m2[usable], m3[usable], m4[usable]
    var_g1, mean_b2, var_b2 = gaussian_moment_null(n)
    z_skew = np.sum(m3 / m2**1.5) / math.sqrt(np.sum(var_g1))
    z_kurtosis = np.sum(m4 / m2**2 - mean_b2) / math.sqrt(np.sum(var_b2))
    statistic = float(z_skew**2 + z_kurtosis**2)
    return statistic, float(math.exp(-statistic / 2)), int(usable.sum())


def column_moments(matrix, zeros: str = "exclude"):
    """(counts, m2, m3, m4) of every column of a (samples × coordinates) matrix, central moments with
    1/n about the column mean; with ``zeros="exclude"`` each column's exact zeros are left out."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be 2-D (samples × coordinates), got shape {matrix.shape}")
    if zeros not in ZERO_POLICIES:
        raise ValueError(f"unknown zeros policy {zeros!r}; expected one of {', '.join(ZERO_POLICIES)}")
    if zeros == "keep" and np.any(matrix == 0):
        raise ValueError("matrix contains exact zeros and zeros='keep' (use zeros='exclude')")
    if zeros == "keep" or np.all(matrix != 0):
        _, _, m2, m3, m4 = central_moments(matrix)
        return np.full(matrix.shape[1], matrix.shape[0]), m2, m3, m4
    mask = matrix != 0
    counts = mask.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = matrix.sum(axis=0) / counts
        centred = np.where(mask, matrix - mean, 0.0)
        squared = centred * centred
        return (counts, squared.sum(axis=0) / counts, (squared * centred).sum(axis=0) / counts,
                (squared * squared).sum(axis=0) / counts)


def normality_test(x, test: str = "dagostino", zeros: str = "exclude"):
    """(statistic, p-value) of a normality test of the sample ``x`` (see ``normality_from_moments``)."""
    sample = prepare_sample(x, zeros)
    n, _, m2, m3, m4 = central_moments(sample)
    return normality_from_moments(n, m2, m3, m4, test)


def normality_per_column(matrix, test: str = "dagostino", zeros: str = "exclude"):
    """Per-column (statistic, p-value) arrays; with ``zeros="exclude"`` each column drops its zeros.
    Columns with fewer than 8 samples (or constant ones) get NaN."""
    counts, *moments = column_moments(matrix, zeros)
    usable = counts >= COLUMN_TEST_MINIMUM
    statistic = np.full(counts.size, np.nan)
    pvalue = np.full(counts.size, np.nan)
    if usable.any():
        s, p = normality_from_moments(counts[usable], *(m[usable] for m in moments), test=test)
        statistic[usable], pvalue[usable] = s, p
    return statistic, pvalue
