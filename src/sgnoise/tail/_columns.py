"""α̂ of every column of a (samples × coordinates) matrix at once, each column its own sample (the
per-coordinate estimates), with each column's exact zeros dropped.
"""

from __future__ import annotations

import math

import numpy as np

from sgnoise.tail._estimators import FINALISERS, block_lengths, mcculloch_alpha
from sgnoise.tail._extreme import top_count, top_magnitudes
from sgnoise.tail._samples import (HILL_EXPONENT, MCCULLOCH_LEVELS, TOP_METHODS, ZERO_POLICIES, alpha_from_inverse,
                                   check_method, order_rank)


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

