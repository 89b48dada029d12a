"""Per-coordinate statistics of a noise matrix read in column blocks: each column's MAD (the scales of
the normalised view) and central moments, per-column α̂ and normality tests, the pooled views'
Gaussianity test, the Gaussian null band of the per-coordinate α̂, and the interval of their median.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats as scipy_stats

from sgnoise.tail._columns import alpha_per_column
from sgnoise.tail._matrix import MatrixSource, column_blocks
from sgnoise.tail._normality import column_moments, column_omnibus, normality_per_column

NULL_FIELDS = ("null_median", "null_q05", "null_q10", "null_q90", "excess_fraction")


def column_mad(source: MatrixSource, zeros: str, max_entries: int) -> np.ndarray:
    """Median absolute deviation of each column about its median, over its rows (nonzero entries
    only with ``zeros="exclude"``; NaN for columns with fewer than 2 of them)."""
    out = np.empty(source.shape[1])
    for columns in column_blocks(source.shape, max_entries):
        block = source.read(slice(None), columns).astype(np.float64)
        if zeros == "exclude" and np.any(block == 0):
            block[block == 0] = np.nan
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-zero columns: NaN, dropped below
                centre = np.nanmedian(block, axis=0)
                mad = np.nanmedian(np.abs(block - centre), axis=0)
            mad[np.sum(~np.isnan(block), axis=0) < 2] = np.nan
        else:
            mad = np.median(np.abs(block - np.median(block, axis=0)), axis=0)
        out[columns] = mad
    return out


def column_moment_arrays(source: MatrixSource, zeros: str, max_entries: int):
    """(counts, m2, m3, m4) of every column (``sgnoise.tail.column_moments``), read in column blocks."""
    out = [np.empty(source.shape[1]) for _ in range(4)]
    for columns in column_blocks(source.shape, max_entries):
        for array, values in zip(out, column_moments(source.read(slice(None), columns), zeros)):
            array[columns] = values
    return out


class PooledNormality:
    """The pooled views' Gaussianity test (``normality.pooled``): ``columns`` = the column omnibus
    (``sgnoise.tail.column_omnibus``; H0: each coordinate Gaussian with its own scale) over a view's
    stored partition columns, ``entries`` = the D'Agostino/Jarque–Bera test of the pooled entries
    themselves (H0: the pooled entries are one Gaussian sample, which any spread of scales violates)."""

    def __init__(self, partition: MatrixSource, settings):
        self.partition, self.settings = partition, settings
        self.kind = "none" if settings["normality"]["test"] == "none" else settings["normality"]["pooled"]
        self.moments = None

    @property
    def label(self) -> str:
        """The rows' ``normality_test``: "none", "column_omnibus" or "<test>_entries"."""
        return {"none": "none", "columns": "column_omnibus"}.get(self.kind, f"{self.settings['normality']['test']}_entries")

    @property
    def entries_settings(self) -> dict:
        """The normality settings for ``pooled_results`` (which tests the pooled entries)."""
        return self.settings["normality"] if self.kind == "entries" else {**self.settings["normality"], "test": "none"}

    def of_columns(self, columns) -> dict:
        """normality_* row fields of the column omnibus over ``columns``."""
        if self.kind != "columns" or len(columns) == 0:
            return dict(normality_statistic=np.nan, normality_pvalue=np.nan)
        if self.moments is None:
            self.moments = column_moment_arrays(self.partition, self.settings["zeros"], self.settings["max_entries"])
        statistic, pvalue, _ = column_omnibus(*(values[columns] for values in self.moments))
        return dict(normality_statistic=statistic, normality_pvalue=pvalue)

    def row_fields(self, columns, entries_result=None) -> dict:
        """normality_* row fields of a view over ``columns``: the entries' (statistic, p-value)
        ``entries_result`` for the "entries" kind, else the column omnibus over ``columns``."""
        fields = dict(normality_test=self.label)
        if self.kind == "entries" and entries_result is not None:
            statistic, pvalue = entries_result
            return {**fields, "normality_statistic": statistic, "normality_pvalue": pvalue}
        return {**fields, **self.of_columns(columns)}


def per_column_results(source: MatrixSource, methods, zeros, method_options, normality, max_entries):
    """({method: α̂ per column}, normality p-values per column, statistics per column, nonzero count)."""
    n_columns = source.shape[1]
    alphas = {method: np.full(n_columns, np.nan) for method in methods}
    statistic, pvalue = np.full(n_columns, np.nan), np.full(n_columns, np.nan)
    nonzero = 0
    for columns in column_blocks(source.shape, max_entries):
        block = np.asarray(source.read(slice(None), columns), dtype=np.float64)
        nonzero += int(np.count_nonzero(block))
        for method in methods:
            alphas[method][columns] = alpha_per_column(block, method, zeros, **method_options.get(method, {}))
        if normality["test"] != "none":
            statistic[columns], pvalue[columns] = normality_per_column(block, normality["test"], zeros)
    return alphas, statistic, pvalue, nonzero


def gaussian_null_matrix(source: MatrixSource, n_columns: int, centred: bool, rng) -> np.ndarray:
    """Gaussian stand-in for ``n_columns`` seeded-random columns of ``source``: the same rows, each
    column's exact zeros where the source has them, centred over the rows first when the source is a
    zero-sum partition (its rows are deviations from their own mean). Scales are irrelevant: every
    estimator is scale-free."""
    picked = np.sort(rng.choice(source.shape[1], size=min(n_columns, source.shape[1]), replace=False))
    zeros = np.asarray(source.read(slice(None), picked)) == 0
    gaussian = rng.standard_normal((source.shape[0], picked.size))
    if centred:
        gaussian -= gaussian.mean(axis=0)
    gaussian[zeros] = 0.0
    return gaussian


def null_band(values: np.ndarray, null_alphas: np.ndarray) -> dict:
    """Quantiles of the per-coordinate α̂ on Gaussian columns (the null band) and the excess fraction:
    the share of measured coordinates whose α̂ is below the null's 5 % quantile (5 % under H0)."""
    null_alphas = null_alphas[np.isfinite(null_alphas)]
    if null_alphas.size == 0 or values.size == 0:
        return dict.fromkeys(NULL_FIELDS, np.nan)
    median, q05, q10, q90 = np.quantile(null_alphas, [0.5, 0.05, 0.1, 0.9], method="inverted_cdf")
    return dict(null_median=float(median), null_q05=float(q05), null_q10=float(q10), null_q90=float(q90),
                excess_fraction=float(np.mean(values < q05)))


def median_interval(values: np.ndarray, ci: dict, how: str):
    """Interval for the median over coordinates: binomial order statistics (analytic) or a seeded
    bootstrap over coordinates (percentile)."""
    m = values.size
    if how == "none" or m < 2:
        return np.nan, np.nan
    tail_probability = (1 - ci["level"]) / 2
    if how == "bootstrap":
        rng = np.random.default_rng(ci["seed"])
        medians = [np.quantile(values[rng.integers(0, m, size=m)], 0.5, method="inverted_cdf") for _ in range(ci["replicates"])]
        low, high = np.quantile(medians, [tail_probability, 1 - tail_probability], method="inverted_cdf")
        return float(low), float(high)
    ordered = np.sort(values)
    low_rank = int(max(scipy_stats.binom.ppf(tail_probability, m, 0.5), 1))
    high_rank = int(min(scipy_stats.binom.ppf(1 - tail_probability, m, 0.5) + 1, m))
    return float(ordered[low_rank - 1]), float(ordered[high_rank - 1])
