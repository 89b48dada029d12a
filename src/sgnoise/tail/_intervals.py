"""Confidence intervals of α̂: analytic (delta method, order statistics, asymptotic normality) for
every estimator, block bootstrap, and ``estimate_alpha_ci``.

Intervals are made for 1/α (or γ) and mapped to α by ``inverse_interval``: [a, b] of 1/α gives
[1/b, 1/a], with 1/a = +inf for a ≤ 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from sgnoise.tail._estimators import (ESTIMATORS, FINALISERS, STATISTICS, OrderBlocks, _order_inverse,
                                      mcculloch_alpha_from_ratio, mcculloch_levels, median_member, mohammadi_alpha,
                                      mohammadi_order_alpha)
from sgnoise.tail._extreme import PICKANDS_PER_K, moment_gamma, pickands_gamma
from sgnoise.tail._samples import (CI_METHODS, MCCULLOCH_LEVELS, TOP_METHODS, alpha_from_inverse, check_method,
                                   order_rank, prepare_sample)


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

