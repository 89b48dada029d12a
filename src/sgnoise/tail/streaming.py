"""The streaming statistics engine over a noise dump's matrix: α̂ (with intervals) and the Gaussianity
test of *pooled groups* (the entries of some columns over all rows, C order, optionally divided by
column scales), computed from the matrix read in row blocks within a memory budget.

A matrix that fits ``max_entries`` is read whole and estimated with :func:`sgnoise.tail.estimate_alpha_ci`;
a larger one is streamed: one pass counts the samples, a second feeds every estimator's *statistics*
(``sgnoise.tail.STATISTICS``: whole K1-blocks' terms, the largest |x|, power sums), further passes
find exact order statistics (radix selection), and the same finalisers (``sgnoise.tail.FINALISERS``)
turn them into α̂. The numbers are identical either way; only the intervals that need the sample in
memory (a bootstrap other than Mohammadi's) fall back to analytic ones.

The per-coordinate side (column MADs and moments, per-column α̂, the pooled views' normality test,
the Gaussian null band, the median's interval) reads column blocks; its names are re-exported here,
as are the block readers (:class:`MatrixSource`, :func:`row_blocks`, :func:`column_blocks`,
:func:`max_block_entries`) and the exact streamed order statistics (:class:`OrderStatistics`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sgnoise.tail._columns import minimum_samples
from sgnoise.tail._estimators import FINALISERS, OrderBlocks, block_lengths, block_sums, mcculloch_levels, mohammadi_block_terms
from sgnoise.tail._extreme import top_count
from sgnoise.tail._intervals import AlphaEstimate, estimate_alpha_ci, interval_from_statistics, resolve_ci_method
from sgnoise.tail._matrix import BYTES_PER_ENTRY, MatrixSource, column_blocks, max_block_entries, row_blocks
from sgnoise.tail._normality import normality_from_moments, normality_test
from sgnoise.tail._per_column import (NULL_FIELDS, PooledNormality, column_mad, column_moment_arrays, gaussian_null_matrix,
                                      median_interval, null_band, per_column_results)
from sgnoise.tail._radix import OrderStatistics, sortable_keys, value_of_key
from sgnoise.tail._samples import TOP_METHODS, order_rank

__all__ = ["BYTES_PER_ENTRY", "NULL_FIELDS", "GroupResult", "MatrixSource", "OrderStatistics", "PooledGroup",
           "PooledNormality", "column_blocks", "column_mad", "column_moment_arrays", "gaussian_null_matrix",
           "group_sample", "max_block_entries", "median_interval", "null_band", "per_column_results", "pooled_results",
           "row_blocks", "sortable_keys", "value_of_key"]


# ----------------------------------------------------------------------------- pooled samples


@dataclass
class PooledGroup:
    """One pooled sample: the entries of ``columns`` over all rows, C order, divided by ``scale``."""

    view: str
    layer: str
    columns: np.ndarray
    scale: np.ndarray | None = None


def group_sample(block: np.ndarray, columns: slice, group: PooledGroup, zeros: str):
    """(sample, n_entries): the group's part of a block read at ``columns``, as float64 in C order,
    divided by its scale, with the zero policy applied; n_entries counts entries before dropping zeros."""
    low, high = np.searchsorted(group.columns, [columns.start, columns.stop])
    if low == high:
        return np.empty(0), 0
    local = group.columns[low:high] - columns.start
    if local[-1] - local[0] + 1 == local.size:
        part = block[:, local[0]:local[-1] + 1].astype(np.float64)
    else:
        part = block[:, local].astype(np.float64)
    if group.scale is not None:
        part /= group.scale[low:high]
    sample = part.reshape(-1)
    if not np.all(np.isfinite(sample)):
        raise ValueError("noise matrix contains NaN or inf")
    if zeros == "exclude":
        return sample[sample != 0], sample.size
    if np.any(sample == 0):
        raise ValueError("noise matrix contains exact zeros and zeros='keep'; no estimator takes log|0| (use zeros='exclude')")
    return sample, sample.size


@dataclass
class GroupResult:
    """One pooled group's result: entries before and samples after the zero policy, {method:
    AlphaEstimate}, and the normality test's (statistic, p-value)."""

    n_entries: int = 0
    n_samples: int = 0
    estimates: dict = field(default_factory=dict)  # method -> AlphaEstimate
    normality: tuple = (np.nan, np.nan)


def _block_size(ci: dict, n_samples: int, n_rows: int) -> int:
    if ci["block_size"] == "row":
        return max(1, round(n_samples / max(n_rows, 1)))
    return int(ci["block_size"])


def _nan_estimate(n_samples, how="none"):
    return AlphaEstimate(np.nan, np.nan, np.nan, how, n_samples)


def _in_memory(sample, n_entries, n_rows, methods, method_options, ci, normality) -> GroupResult:
    result = GroupResult(n_entries, sample.size)
    for method in methods:
        options = method_options.get(method, {})
        if sample.size < minimum_samples(method, **options):
            result.estimates[method] = _nan_estimate(sample.size)
            continue
        result.estimates[method] = estimate_alpha_ci(
            sample, method, zeros="keep", ci=ci["method"], level=ci["level"], replicates=ci["replicates"],
            block_size=_block_size(ci, sample.size, n_rows), seed=ci["seed"], **options)
    if normality["test"] != "none" and sample.size >= 8:
        result.normality = normality_test(sample, normality["test"], zeros="keep")
    return result


# ----------------------------------------------------------------------------- streaming consumers


class _Count:
    def __init__(self):
        self.n_samples = self.n_entries = 0
        self.total = 0.0

    def update(self, sample, n_entries):
        self.n_samples += sample.size
        self.n_entries += n_entries
        self.total += float(sample.sum())


class _AlignedBlocks:
    """Apply ``function(piece, k1)`` to consecutive pieces of whole K1-blocks of the first ``length`` samples."""

    def __init__(self, k1, length, function):
        self.k1, self.length, self.function = k1, length, function
        self.seen = 0
        self.carry = np.empty(0)
        self.parts = []

    def update(self, sample, n_entries):
        take = min(sample.size, self.length - self.seen)
        if take <= 0:
            return
        self.seen += take
        piece = np.concatenate([self.carry, sample[:take]]) if self.carry.size else sample[:take]
        usable = piece.size // self.k1 * self.k1
        if usable:
            self.parts.append(self.function(piece[:usable], self.k1))
        self.carry = piece[usable:].copy()

    def result(self):
        return np.concatenate(self.parts) if self.parts else np.empty(0)


class _TopMagnitudes:
    """The ``size`` largest |x| of the stream (exact, as a multiset)."""

    def __init__(self, size):
        self.size = size
        self.top = np.empty(0)

    def update(self, sample, n_entries):
        merged = np.concatenate([self.top, np.abs(sample)])
        if merged.size > self.size:
            merged = np.partition(merged, merged.size - self.size)[merged.size - self.size:]
        self.top = merged

    def result(self):
        return np.sort(self.top)[::-1]


class _Moments:
    def __init__(self, mean):
        self.mean = mean
        self.sums = np.zeros(3)

    def update(self, sample, n_entries):
        centred = sample - self.mean
        squared = centred * centred
        self.sums += [squared.sum(), (squared * centred).sum(), (squared * squared).sum()]



def _run_pass(source, groups, zeros, max_entries, consumers):
    """One read of the matrix in row blocks, feeding each group's sample to its consumers."""
    for consumer_list in consumers:
        for consumer in consumer_list:
            if hasattr(consumer, "begin"):
                consumer.begin()
    for rows, columns in row_blocks(source.shape, max_entries):
        if not any(consumers):
            break
        block = source.read(rows, columns)
        for group, consumer_list in zip(groups, consumers):
            if consumer_list:
                sample, n_entries = group_sample(block, columns, group, zeros)
                for consumer in consumer_list:
                    consumer.update(sample, n_entries)
    for consumer_list in consumers:
        for consumer in consumer_list:
            if hasattr(consumer, "end"):
                consumer.end()


def _streamed(source, groups, methods, zeros, method_options, ci, normality, max_entries) -> list[GroupResult]:
    counts = [_Count() for _ in groups]
    _run_pass(source, groups, zeros, max_entries, [[c] for c in counts])
    plans, consumers = [], []
    for count in counts:
        n = count.n_samples
        plan, consumer_list, requests = {}, [], []
        for method in methods:
            options = method_options.get(method, {})
            if n < minimum_samples(method, **options):
                continue
            if method == "mohammadi":
                parts = {k: _AlignedBlocks(k, k * (n // k), mohammadi_block_terms)
                         for k in block_lengths(n, options.get("k1", "reference"))}
                consumer_list += parts.values()
                plan[method] = parts
            elif method == "mohammadi_order":
                members = []
                for k in block_lengths(n, options.get("k1", "reference")):
                    rank = order_rank(n // k, options.get("quantile", 0.5))
                    members.append((k, _AlignedBlocks(k, k * (n // k), block_sums), rank, len(requests)))
                    requests.append(("abs", k * (n // k), k * rank))
                    consumer_list.append(members[-1][1])
                plan[method] = members
            elif method in TOP_METHODS:
                top = _TopMagnitudes(top_count(method, n, **options))
                consumer_list.append(top)
                plan[method] = top
            else:
                plan[method] = len(requests)
                requests += [("signed", n, order_rank(n, p)) for p in mcculloch_levels(n)]
        if normality["test"] != "none" and n >= 8:
            plan["normality"] = _Moments(count.total / n)
            consumer_list.append(plan["normality"])
        if requests:
            plan["order"] = OrderStatistics(requests, max_entries)
            consumer_list.append(plan["order"])
        plans.append(plan)
        consumers.append(consumer_list)
    _run_pass(source, groups, zeros, max_entries, consumers)
    order_consumers = [[p["order"]] if "order" in p and p["order"].pending else [] for p in plans]
    while any(order_consumers):
        _run_pass(source, groups, zeros, max_entries, order_consumers)
        order_consumers = [[c[0]] if c and c[0].pending else [] for c in order_consumers]
    return [_finish_streamed(plan, count, source.shape[0], methods, ci, normality) for plan, count in zip(plans, counts)]


def _finish_streamed(plan, count, n_rows, methods, ci, normality) -> GroupResult:
    n = count.n_samples
    result = GroupResult(count.n_entries, n)
    block = _block_size(ci, n, n_rows)
    for method in methods:
        if method not in plan:
            result.estimates[method] = _nan_estimate(n)
            continue
        how = resolve_ci_method(ci["method"], method)
        if how == "bootstrap" and method != "mohammadi":
            how = "analytic"  # their bootstrap needs the sample in memory
        if method == "mohammadi":
            statistics = {k: part.result() for k, part in plan[method].items()}
        elif method == "mohammadi_order":
            values = plan["order"].values()
            statistics = [OrderBlocks(k, blocks.result(), rank, values[index]) for k, blocks, rank, index in plan[method]]
        elif method in TOP_METHODS:
            statistics = plan[method].result()
        else:
            start = plan[method]
            statistics = np.array(plan["order"].values()[start:start + len(mcculloch_levels(n))])
        alpha = FINALISERS[method](statistics)
        low, high = interval_from_statistics(method, statistics, how, ci["level"], ci["replicates"], block, ci["seed"], n)
        result.estimates[method] = AlphaEstimate(alpha, low, high, how, n)
    if "normality" in plan:
        m2, m3, m4 = plan["normality"].sums / n
        result.normality = normality_from_moments(n, m2, m3, m4, normality["test"])
    return result


def pooled_results(source: MatrixSource, groups, methods, zeros, method_options, ci, normality, max_entries) -> list[GroupResult]:
    """α̂ (with intervals) and the normality test of every pooled group; in memory when the matrix
    fits ``max_entries`` entries, else streamed with identical α̂ and analytic intervals (a bootstrap
    is then only done for mohammadi; other methods fall back to analytic, recorded in ``ci_method``)."""
    n_rows, n_columns = source.shape
    if n_rows * n_columns <= max_entries:
        block = source.read(slice(0, n_rows), slice(0, n_columns))
        results = []
        for group in groups:
            sample, n_entries = group_sample(block, slice(0, n_columns), group, zeros)
            results.append(_in_memory(sample, n_entries, n_rows, methods, method_options, ci, normality))
        return results
    return _streamed(source, groups, methods, zeros, method_options, ci, normality, max_entries)

