"""Views of a noise dump → tidy α table (one row per checkpoint, method, view and layer).

A checkpoint holds the K × M partition noise matrix (rows = disjoint mini-batches, columns =
stored coordinates) and optionally an R × M matrix of independently drawn mini-batches. Views
(docs/architecture.md, docs/science.md §6):

- ``pooled``: the paper's estimate: all P coordinates of every partition mini-batch, flattened in C
  order (parameter order within a mini-batch), contiguous K1-blocks; streamed in the noise pass
  (:mod:`sgnoise.tail.pooled`), read here from its statistics; ``mohammadi`` only;
- ``pooled_test``: the same over the test set's partition (``noise.test_set``);
- ``pooled_stored``: the pooled estimate of the *stored* columns only (a seeded subset when
  ``noise.max_coords`` < P): not the paper's number, kept for the other estimators;
- ``pooled_normalised``: the same after dividing each column by its median absolute deviation
  across rows (columns with MAD 0 are left out), so that scale differences cannot fake heavy tails;
- ``per_parameter``: α̂ of each column across its rows (the random matrix when stored, else the
  partition), summarised by the median and 10/90 % quantiles over coordinates;
- ``per_layer``: the pooled view within each layer.

Memory: a matrix whose working set (``BYTES_PER_ENTRY`` bytes per entry) fits ``memory_budget_mb``
is read whole and estimated with ``sgnoise.tail``; a larger one is streamed in row blocks (pooled
views: two passes, plus a few for exact order statistics) or column blocks (per-parameter, MAD),
computing the same statistics, so the α̂ are identical either way.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from sgnoise.tail import pooled
from sgnoise import tail
from sgnoise.noise.dump import NoiseDump

VIEWS = ("pooled", "pooled_test", "pooled_stored", "pooled_normalised", "per_parameter", "per_layer")
STREAMED_VIEWS = {"pooled": "pooled", "pooled_test": "pooled_test"}  # view → statistics group of the dump
SOURCES = ("auto", "random", "partition")
COLUMNS = ["iteration", "method", "view", "layer", "alpha", "ci_low", "ci_high", "n_samples", "N", "K1", "k1_policy",
           "zero_fraction", "zeros",
           "ci_method", "ci_level", "q10", "q90", "n_coordinates", "n_minibatches", "source",
           "normality_test", "normality_statistic", "normality_pvalue", "reject_fraction",
           "null_median", "null_q05", "null_q10", "null_q90", "excess_fraction"]
NULL_FIELDS = ("null_median", "null_q05", "null_q10", "null_q90", "excess_fraction")
DEFAULT_NULL_COLUMNS = 2000
PER_PARAMETER_COLUMNS = ["iteration", "method", "column", "layer", "alpha", "source"]
K1_COLUMNS = ["iteration", "view", "k1", "alpha", "ci_low", "ci_high", "ci_method", "n_samples", "n_blocks", "k1_reference"]
DEFAULT_K1 = {"policy": "reference", "fixed": 1000, "grid": [2, 5, 10, 20, 50, 100, 500, 1000]}
BLOCK_METHODS = ("mohammadi", "mohammadi_order")
BYTES_PER_ENTRY = 64  # float32 read + float64 copy + logs, masks and sort keys while a block is processed
DEFAULT_CI = {"method": "auto", "level": 0.95, "replicates": 200, "block_size": "row", "seed": 0}
DEFAULT_NORMALITY = {"test": "dagostino", "level": 0.01, "pooled": "columns"}
POOLED_NORMALITY = ("columns", "entries")  # the pooled views' test: column omnibus | the pooled entries' own
DEFAULT_MEMORY_BUDGET_MB = 2048


# ----------------------------------------------------------------------------- matrices and blocks


class MatrixSource:
    """Block reads ``read(rows, columns)`` of a (rows × columns) matrix held in memory or in a dump."""

    def __init__(self, read, shape):
        self.read = read
        self.shape = tuple(int(s) for s in shape)

    @classmethod
    def from_array(cls, matrix):
        matrix = np.asarray(matrix)
        if matrix.ndim != 2:
            raise ValueError(f"noise matrix must be 2-D (mini-batches × coordinates), got shape {matrix.shape}")
        if not (np.issubdtype(matrix.dtype, np.floating) or np.issubdtype(matrix.dtype, np.integer)):
            raise TypeError(f"noise matrix must be real numeric, got dtype {matrix.dtype}")
        return cls(lambda rows, columns: matrix[rows, columns], matrix.shape)

    @classmethod
    def from_dump(cls, dump: NoiseDump, iteration: int, name: str = "noise"):
        shape = dump.noise(iteration).shape if name == "noise" else dump.noise_random(iteration).shape
        return cls(lambda rows, columns: dump.read(iteration, name, rows, columns), shape)


def max_block_entries(memory_budget_mb: float) -> int:
    """Matrix entries processed at once within ``memory_budget_mb`` (at least 16)."""
    if isinstance(memory_budget_mb, bool) or not isinstance(memory_budget_mb, (int, float)) or not memory_budget_mb > 0:
        raise ValueError(f"memory_budget_mb must be a positive number, got {memory_budget_mb!r}")
    return max(16, int(memory_budget_mb * 2**20 // BYTES_PER_ENTRY))


def row_blocks(shape, max_entries: int):
    """(rows, columns) slices covering a matrix in C order, each at most ``max_entries`` entries
    (whole rows when a row fits, else pieces of one row)."""
    n_rows, n_columns = shape
    rows_per_block = max_entries // max(n_columns, 1)
    if rows_per_block >= 1:
        for start in range(0, n_rows, rows_per_block):
            yield slice(start, min(start + rows_per_block, n_rows)), slice(0, n_columns)
        return
    for row in range(n_rows):
        for start in range(0, n_columns, max_entries):
            yield slice(row, row + 1), slice(start, min(start + max_entries, n_columns))


def column_blocks(shape, max_entries: int):
    """Column slices of whole columns, each block at most ``max_entries`` entries (at least one column)."""
    n_rows, n_columns = shape
    width = max(1, max_entries // max(n_rows, 1))
    for start in range(0, n_columns, width):
        yield slice(start, min(start + width, n_columns))


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
    n_entries: int = 0
    n_samples: int = 0
    estimates: dict = field(default_factory=dict)  # method -> tail.AlphaEstimate
    normality: tuple = (np.nan, np.nan)


def _block_size(ci: dict, n_samples: int, n_rows: int) -> int:
    if ci["block_size"] == "row":
        return max(1, round(n_samples / max(n_rows, 1)))
    return int(ci["block_size"])


def _nan_estimate(n_samples, how="none"):
    return tail.AlphaEstimate(np.nan, np.nan, np.nan, how, n_samples)


def _in_memory(sample, n_entries, n_rows, methods, method_options, ci, normality) -> GroupResult:
    result = GroupResult(n_entries, sample.size)
    for method in methods:
        options = method_options.get(method, {})
        if sample.size < tail.minimum_samples(method, **options):
            result.estimates[method] = _nan_estimate(sample.size)
            continue
        result.estimates[method] = tail.estimate_alpha_ci(
            sample, method, zeros="keep", ci=ci["method"], level=ci["level"], replicates=ci["replicates"],
            block_size=_block_size(ci, sample.size, n_rows), seed=ci["seed"], **options)
    if normality["test"] != "none" and sample.size >= 8:
        result.normality = tail.normality_test(sample, normality["test"], zeros="keep")
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


_SIGN = np.uint64(1 << 63)
_DIGITS = 16


def sortable_keys(values: np.ndarray) -> np.ndarray:
    """uint64 keys ordered like the float64 ``values`` (IEEE bits; negatives flipped)."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    return np.where(bits >> np.uint64(63) == 1, ~bits, bits | _SIGN)


def value_of_key(key: int) -> float:
    key = np.uint64(key)
    bits = key ^ _SIGN if key & _SIGN else ~key
    return float(np.array([bits], dtype=np.uint64).view(np.float64)[0])


class OrderStatistics:
    """Exact order statistics of a stream too large to hold (radix selection).

    Each request (transform "abs" or "signed", length L, rank r) asks for the r-th smallest of the
    first L stream values. A pass either histograms the next 16 bits of the sortable keys that
    share the prefix found so far, or, once at most ``limit`` values share it, collects them and
    selects exactly. ``pending`` says whether another pass is needed.
    """

    def __init__(self, requests, limit):
        self.limit = limit
        self.requests = [dict(transform=t, length=int(length), rank=int(rank), prefix=0, shift=64, count=int(length),
                              value=None) for t, length, rank in requests]
        for request in self.requests:
            if not 1 <= request["rank"] <= request["length"]:
                raise ValueError(f"rank {request['rank']} outside [1, {request['length']}]")

    @property
    def pending(self):
        return any(r["value"] is None for r in self.requests)

    def values(self):
        return [r["value"] for r in self.requests]

    def begin(self):
        self.seen = 0
        for r in self.requests:
            if r["value"] is None:
                r["collect"] = r["count"] <= self.limit
                r["found"] = []
                r["histogram"] = np.zeros(2**_DIGITS, dtype=np.int64)

    def update(self, sample, n_entries):
        start = self.seen
        self.seen += sample.size
        cache = {}
        for r in self.requests:
            stop = min(sample.size, r["length"] - start)
            if r["value"] is not None or stop <= 0:
                continue
            if (r["transform"], stop) not in cache:
                values = np.abs(sample[:stop]) if r["transform"] == "abs" else np.ascontiguousarray(sample[:stop])
                cache[(r["transform"], stop)] = values, sortable_keys(values)
            values, keys = cache[(r["transform"], stop)]
            if r["shift"] < 64:
                match = (keys >> np.uint64(r["shift"])) == np.uint64(r["prefix"])
                values, keys = values[match], keys[match]
            if r["collect"]:
                r["found"].append(values)
            else:
                digits = (keys >> np.uint64(r["shift"] - _DIGITS)) & np.uint64(2**_DIGITS - 1)
                r["histogram"] += np.bincount(digits.astype(np.intp), minlength=2**_DIGITS)

    def end(self):
        for r in self.requests:
            if r["value"] is not None:
                continue
            if r["collect"]:
                r["value"] = tail.kth_smallest(np.concatenate(r["found"]), r["rank"])
            else:
                cumulative = np.cumsum(r["histogram"])
                digit = int(np.searchsorted(cumulative, r["rank"], side="left"))
                r["rank"] -= int(cumulative[digit - 1]) if digit else 0
                r["prefix"] = (r["prefix"] << _DIGITS) | digit
                r["shift"] -= _DIGITS
                r["count"] = int(r["histogram"][digit])
                if r["shift"] == 0:
                    r["value"] = value_of_key(r["prefix"])
            r.pop("found"), r.pop("histogram")


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
            if n < tail.minimum_samples(method, **options):
                continue
            if method == "mohammadi":
                parts = {k: _AlignedBlocks(k, k * (n // k), tail.mohammadi_block_terms)
                         for k in tail.block_lengths(n, options.get("k1", "reference"))}
                consumer_list += parts.values()
                plan[method] = parts
            elif method == "mohammadi_order":
                members = []
                for k in tail.block_lengths(n, options.get("k1", "reference")):
                    rank = tail.order_rank(n // k, options.get("quantile", 0.5))
                    members.append((k, _AlignedBlocks(k, k * (n // k), tail.block_sums), rank, len(requests)))
                    requests.append(("abs", k * (n // k), k * rank))
                    consumer_list.append(members[-1][1])
                plan[method] = members
            elif method in tail.TOP_METHODS:
                top = _TopMagnitudes(tail.top_count(method, n, **options))
                consumer_list.append(top)
                plan[method] = top
            else:
                plan[method] = len(requests)
                requests += [("signed", n, tail.order_rank(n, p)) for p in tail.mcculloch_levels(n)]
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
        how = tail.resolve_ci_method(ci["method"], method)
        if how == "bootstrap" and method != "mohammadi":
            how = "analytic"  # their bootstrap needs the sample in memory
        if method == "mohammadi":
            statistics = {k: part.result() for k, part in plan[method].items()}
        elif method == "mohammadi_order":
            values = plan["order"].values()
            statistics = [tail.OrderBlocks(k, blocks.result(), rank, values[index]) for k, blocks, rank, index in plan[method]]
        elif method in tail.TOP_METHODS:
            statistics = plan[method].result()
        else:
            start = plan[method]
            statistics = np.array(plan["order"].values()[start:start + len(tail.mcculloch_levels(n))])
        alpha = tail.FINALISERS[method](statistics)
        low, high = tail.interval_from_statistics(method, statistics, how, ci["level"], ci["replicates"], block, ci["seed"], n)
        result.estimates[method] = tail.AlphaEstimate(alpha, low, high, how, n)
    if "normality" in plan:
        m2, m3, m4 = plan["normality"].sums / n
        result.normality = tail.normality_from_moments(n, m2, m3, m4, normality["test"])
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


# ----------------------------------------------------------------------------- per-coordinate


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
        for array, values in zip(out, tail.column_moments(source.read(slice(None), columns), zeros)):
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
        statistic, pvalue, _ = tail.column_omnibus(*(values[columns] for values in self.moments))
        return dict(normality_statistic=statistic, normality_pvalue=pvalue)

    def row_fields(self, columns, entries_result=None) -> dict:
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
            alphas[method][columns] = tail.alpha_per_column(block, method, zeros, **method_options.get(method, {}))
        if normality["test"] != "none":
            statistic[columns], pvalue[columns] = tail.normality_per_column(block, normality["test"], zeros)
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


# ----------------------------------------------------------------------------- settings and tables


def k1_option(k1: dict):
    """The ``k1`` option of ``sgnoise.tail`` that a K1 policy means: "reference", an int, or a list."""
    return {"reference": "reference", "fixed": int(k1["fixed"]), "median": [int(k) for k in k1["grid"]]}[k1["policy"]]


def _settings(methods, views, zeros, method_options, ci, normality, memory_budget_mb, per_parameter_source,
              per_parameter_methods=None, k1=None, null_columns=DEFAULT_NULL_COLUMNS):
    methods, views = list(methods), list(views)
    if not methods:
        raise ValueError("methods must name at least one estimator")
    for method in methods:
        tail.check_method(method)
    for view in views:
        if view not in VIEWS:
            raise ValueError(f"unknown view {view!r}; expected one of {', '.join(VIEWS)}")
    if zeros not in tail.ZERO_POLICIES:
        raise ValueError(f"unknown zeros policy {zeros!r}; expected one of {', '.join(tail.ZERO_POLICIES)}")
    per_parameter_methods = methods if per_parameter_methods is None else list(per_parameter_methods)
    if not set(per_parameter_methods) <= set(methods):
        raise ValueError(f"per_parameter_methods {per_parameter_methods} must be among the methods {methods}")
    if per_parameter_source not in SOURCES:
        raise ValueError(f"unknown per_parameter_source {per_parameter_source!r}; expected one of {', '.join(SOURCES)}")
    method_options = {name: dict(options) for name, options in (method_options or {}).items()}
    for name in method_options:
        tail.check_method(name)
    k1 = _merge("k1", DEFAULT_K1, k1)
    if k1["policy"] not in ("reference", "fixed", "median"):
        raise ValueError(f"unknown K1 policy {k1['policy']!r}; expected one of reference, fixed, median")
    for name in BLOCK_METHODS:
        method_options.setdefault(name, {}).setdefault("k1", k1_option(k1))
    ci = _merge("ci", DEFAULT_CI, ci)
    if ci["method"] not in tail.CI_METHODS:
        raise ValueError(f"unknown ci method {ci['method']!r}; expected one of {', '.join(tail.CI_METHODS)}")
    if not (ci["block_size"] == "row" or (isinstance(ci["block_size"], int) and ci["block_size"] >= 1)):
        raise ValueError(f"ci block_size must be 'row' or a positive int, got {ci['block_size']!r}")
    for key, valid in (("level", 0 < ci["level"] < 1), ("seed", isinstance(ci["seed"], int) and ci["seed"] >= 0),
                       ("replicates", isinstance(ci["replicates"], int) and ci["replicates"] >= 2)):
        if not valid:
            raise ValueError(f"ci {key} is out of range: {ci[key]!r} (level in (0, 1), seed ≥ 0, replicates ≥ 2)")
    normality = _merge("normality", DEFAULT_NORMALITY, normality)
    if not 0 < normality["level"] < 1:
        raise ValueError(f"normality level must be in (0, 1), got {normality['level']!r}")
    if normality["test"] not in (*tail.NORMALITY_TESTS, "none"):
        raise ValueError(f"unknown normality test {normality['test']!r}; expected one of {', '.join(tail.NORMALITY_TESTS)}, none")
    if normality["pooled"] not in POOLED_NORMALITY:
        raise ValueError(f"unknown normality pooled {normality['pooled']!r}; expected one of {', '.join(POOLED_NORMALITY)}")
    if isinstance(null_columns, bool) or not isinstance(null_columns, (int, np.integer)) or null_columns < 0:
        raise ValueError(f"null_columns must be an int ≥ 0 (0: no null band), got {null_columns!r}")
    return dict(methods=methods, views=views, zeros=zeros, method_options=method_options, ci=ci, normality=normality, k1=k1,
                null_columns=int(null_columns),
                max_entries=max_block_entries(memory_budget_mb), per_parameter_source=per_parameter_source,
                per_parameter_methods=per_parameter_methods)


def _merge(name, defaults, given):
    given = dict(given or {})
    unknown = set(given) - set(defaults)
    if unknown:
        raise ValueError(f"unknown {name} option(s) {sorted(unknown)}; expected some of {sorted(defaults)}")
    return {**defaults, **given}


def _row(iteration, method, view, layer, estimate, n_entries, settings, **extra):
    row = dict(iteration=int(iteration), method=method, view=view, layer=layer, alpha=estimate.alpha,
               ci_low=estimate.ci_low, ci_high=estimate.ci_high, n_samples=int(estimate.n_samples),
               zero_fraction=1 - estimate.n_samples / n_entries if n_entries else np.nan, zeros=settings["zeros"],
               N=np.nan, K1=np.nan, k1_policy="",
               ci_method=estimate.ci_method, ci_level=settings["ci"]["level"], q10=np.nan, q90=np.nan,
               n_coordinates=0, n_minibatches=0, source="partition", normality_test=settings["normality"]["test"],
               normality_statistic=np.nan, normality_pvalue=np.nan, reject_fraction=np.nan, **dict.fromkeys(NULL_FIELDS, np.nan))
    row.update(extra)
    return row


def block_columns(method: str, n: int, settings) -> dict:
    """N, K1 and the K1 policy of an estimate from n samples (K1 only for the block estimators;
    NaN for a median over several K1 in the stored views, where no single K1 is used)."""
    if method not in BLOCK_METHODS:
        return dict(N=n, K1=np.nan, k1_policy="")
    option = settings["method_options"].get(method, {}).get("k1", "reference")
    policy = {str: "reference", int: "fixed"}.get(type(option), "median")
    k1 = np.nan
    if policy == "fixed":
        k1 = option
    elif policy == "reference" and n >= 4:
        k1 = tail.block_lengths(n, "reference")[0]
    return dict(N=n, K1=k1, k1_policy=policy)


def streamed_pooled_rows(statistics: dict, iteration, view: str, zeros: str, settings, n_rows: int, normality: dict):
    """α-table rows (mohammadi only) and alpha_k1 records of the pooled statistics streamed in the noise pass;
    ``normality``: the row's normality_* fields, or None for the test of the pooled entries' power sums."""
    k1 = settings["k1"]
    estimate = pooled.pooled_estimate(statistics, settings["ci"], k1["policy"], k1["fixed"], k1["grid"])
    n_used, n_entries = int(statistics["n_used"]), int(statistics["n_entries"])
    if normality is None:
        statistic, pvalue = pooled.normality_from_statistics(statistics, settings["normality"]["test"])
        normality = dict(normality_statistic=float(statistic), normality_pvalue=float(pvalue))
    row = _row(iteration, "mohammadi", view, "", tail.AlphaEstimate(estimate["alpha"], estimate["ci_low"], estimate["ci_high"],
                                                                    estimate["ci_method"], n_used),
               n_entries, settings, N=n_used, K1=estimate["k1"], k1_policy=k1["policy"], zeros=zeros,
               n_coordinates=int(n_entries // max(n_rows, 1)), n_minibatches=n_rows, **normality)
    records = [dict(iteration=int(iteration), view=view, n_samples=n_used, k1_reference=int(statistics["k1_reference"]),
                    **record) for record in pooled.k1_table(statistics, settings["ci"])]
    return row, records


def statistics_of_matrix(source: MatrixSource, settings, zeros: str) -> dict:
    """Pooled statistics (sgnoise.tail.pooled) of a whole noise matrix, read row by row: the paper's pooled
    estimate of a matrix that holds every coordinate (a dump with noise.max_coords null, or a matrix given
    in memory), at the K1 grid of the noise pass."""
    import torch

    n_rows = source.shape[0]
    grid = sorted(set(pooled.DEFAULT_K1_GRID) | set(settings["k1"]["grid"]) | {settings["k1"]["fixed"]})

    def rows():
        for r in range(n_rows):
            yield torch.from_numpy(np.ascontiguousarray(source.read(slice(r, r + 1), slice(None))[0]))
    return pooled.pooled_statistics(rows, n_rows, grid, zeros)


def checkpoint_rows(partition: MatrixSource, random: MatrixSource | None, column_layer, layer_names, column_index,
                    iteration, settings, streamed=None, streamed_zeros="exclude"):
    """Rows of the α table for one checkpoint, the per-coordinate α̂ records and the alpha_k1 records.

    ``streamed``: {"pooled": statistics, "pooled_test": statistics} streamed in the noise pass (either
    may be missing; the ``pooled`` view then has no row)."""
    rows, per_parameter, k1_records = [], [], []
    views, methods = settings["views"], settings["methods"]
    n_rows, n_columns = partition.shape
    all_columns = np.arange(n_columns)
    normality = PooledNormality(partition, settings)
    for view, name in STREAMED_VIEWS.items():
        statistics = (streamed or {}).get(name)
        if view in views and statistics is not None and "mohammadi" in methods:
            # the column omnibus of "pooled" uses the stored partition columns; the test set's partition is not stored
            columns = all_columns if view == "pooled" else all_columns[:0]
            # entries: the test of the streamed power sums (fields None); else the column omnibus
            fields = None if normality.kind == "entries" else normality.row_fields(columns)
            row, records = streamed_pooled_rows(statistics, iteration, view, streamed_zeros, settings,
                                                int(statistics["row_count"].shape[1]), fields)
            row["normality_test"] = normality.label
            rows.append(row)
            k1_records += records
    groups = []
    if "pooled_stored" in views:
        groups.append(PooledGroup("pooled_stored", "", all_columns))
    if "pooled_normalised" in views:
        scale = column_mad(partition, settings["zeros"], settings["max_entries"])
        usable = np.isfinite(scale) & (scale > 0)
        groups.append(PooledGroup("pooled_normalised", "", all_columns[usable], scale[usable]))
    if "per_layer" in views:
        for layer in np.unique(column_layer):
            groups.append(PooledGroup("per_layer", layer_names[layer], np.flatnonzero(column_layer == layer)))
    results = pooled_results(partition, groups, methods, settings["zeros"], settings["method_options"], settings["ci"],
                             normality.entries_settings, settings["max_entries"]) if groups else []
    for group, result in zip(groups, results):
        fields = normality.row_fields(group.columns, result.normality)
        for method in methods:
            rows.append(_row(iteration, method, group.view, group.layer, result.estimates[method], result.n_entries,
                             settings, n_coordinates=int(group.columns.size), n_minibatches=n_rows, **fields,
                             **block_columns(method, result.estimates[method].n_samples, settings)))
    if "per_parameter" in views:
        source_name = settings["per_parameter_source"]
        if source_name == "random" and random is None:
            raise ValueError(f"checkpoint {iteration} has no random mini-batch noise (noise_random) "
                             "but per_parameter_source='random'")
        use_random = random is not None and source_name in ("auto", "random")
        source = random if use_random else partition
        source_label = "random" if use_random else "partition"
        alphas, statistic, pvalue, _ = per_column_results(source, methods, settings["zeros"], settings["method_options"],
                                                                settings["normality"], settings["max_entries"])
        entries = source.shape[0] * source.shape[1]
        tested = ~np.isnan(pvalue)
        per_column_test = dict(normality_statistic=np.nan, normality_pvalue=np.nan, reject_fraction=np.nan)
        if tested.any():
            per_column_test = dict(normality_statistic=float(np.median(statistic[tested])),
                                   normality_pvalue=float(np.median(pvalue[tested])),
                                   reject_fraction=float(np.mean(pvalue[tested] < settings["normality"]["level"])))
        null_alphas = {}
        if settings["null_columns"] > 0:
            rng = np.random.default_rng([settings["ci"]["seed"], int(iteration)])
            gaussian = gaussian_null_matrix(source, settings["null_columns"], not use_random, rng)
            null_alphas = {method: tail.alpha_per_column(gaussian, method, settings["zeros"], **settings["method_options"].get(method, {}))
                           for method in methods}
        for method in methods:
            values = alphas[method][~np.isnan(alphas[method])]
            how = "analytic" if settings["ci"]["method"] in ("auto", "analytic") else settings["ci"]["method"]
            if values.size:
                median, q10, q90 = np.quantile(values, [0.5, 0.1, 0.9], method="inverted_cdf")
                low, high = median_interval(values, settings["ci"], how)
            else:
                median = q10 = q90 = low = high = np.nan
            # n_samples: the R mini-batches each coordinate's α̂ is estimated from
            estimate = tail.AlphaEstimate(float(median), low, high, how if values.size else "none", source.shape[0])
            per_coordinate = block_columns(method, source.shape[0], settings)
            band = null_band(values, null_alphas[method]) if method in null_alphas else {}
            rows.append(_row(iteration, method, "per_parameter", "", estimate, entries, settings, q10=float(q10), q90=float(q90),
                             **per_coordinate, n_coordinates=int(values.size), n_minibatches=source.shape[0],
                             source=source_label, **per_column_test, **band))
            if method in settings["per_parameter_methods"]:
                per_parameter.append(pd.DataFrame({"iteration": int(iteration), "method": method, "column": column_index,
                                                   "layer": np.asarray(layer_names, dtype=object)[column_layer],
                                                   "alpha": alphas[method], "source": source_label}))
    return rows, per_parameter, k1_records


def _frames(rows, per_parameter, k1_records, return_per_parameter, return_k1=False):
    table = pd.DataFrame(rows, columns=COLUMNS)
    out = [table]
    if return_per_parameter:
        side = pd.concat(per_parameter, ignore_index=True) if per_parameter else pd.DataFrame(columns=PER_PARAMETER_COLUMNS)
        out.append(side[PER_PARAMETER_COLUMNS])
    if return_k1:
        out.append(pd.DataFrame(k1_records, columns=K1_COLUMNS))
    return out[0] if len(out) == 1 else tuple(out)


def alpha_table(path, methods=("mohammadi",), views=("pooled",), zeros="exclude", method_options=None, ci=None,
                normality=None, memory_budget_mb=DEFAULT_MEMORY_BUDGET_MB, per_parameter_source="auto",
                return_per_parameter=False, per_parameter_methods=None, k1=None, return_k1=False,
                null_columns=DEFAULT_NULL_COLUMNS):
    """α for every checkpoint of the noise dump at ``path``, per method and view (docs/architecture.md).

    ``method_options``: {method: options for ``tail.estimate_alpha``}; ``ci``: method ("auto",
    "analytic", "bootstrap", "none"), level, replicates, block_size ("row" = one mini-batch, or a
    number of samples), seed; ``normality``: test ("dagostino", "jarque_bera", "none"), level (for
    ``reject_fraction``); ``per_parameter_source``: "auto" (random mini-batches when stored, else
    the partition), "random" or "partition"; ``k1``: the K1 policy {policy: reference|fixed|median,
    fixed, grid} of the block estimators; ``null_columns``: Gaussian columns simulated for the
    per-parameter view's null band (0: none; see ``gaussian_null_matrix``). With ``return_per_parameter`` also returns the
    per-coordinate α̂ (columns ``PER_PARAMETER_COLUMNS``) of ``per_parameter_methods`` (default: all);
    with ``return_k1`` the streamed pooled estimate at every measured K1 (``K1_COLUMNS``).
    """
    settings = _settings(methods, views, zeros, method_options, ci, normality, memory_budget_mb, per_parameter_source,
                         per_parameter_methods, k1, null_columns)
    rows, per_parameter, k1_records = [], [], []
    with NoiseDump(path) as dump:
        column_layer, layer_names, column_index = dump.column_layer, dump.layer_names, dump.column_index
        config = dump.attrs.get("config") or {}
        streamed_zeros = config.get("pooled_zeros", "exclude") if isinstance(config, dict) else "exclude"
        complete_columns = len(column_index) == int(dump.attrs.get("n_params", -1))  # every coordinate stored
        for iteration in dump.iterations:
            partition = MatrixSource.from_dump(dump, iteration, "noise")
            random = MatrixSource.from_dump(dump, iteration, "noise_random") if dump.has_random_noise(iteration) else None
            streamed = {name: dump.pooled_statistics(iteration, name) for name in STREAMED_VIEWS.values()}
            if streamed["pooled"] is None and "pooled" in settings["views"] and complete_columns:
                streamed["pooled"] = statistics_of_matrix(partition, settings, streamed_zeros)
            new = checkpoint_rows(partition, random, column_layer, layer_names, column_index, iteration, settings,
                                  streamed, streamed_zeros)
            rows += new[0]
            per_parameter += new[1]
            k1_records += new[2]
    return _frames(rows, per_parameter, k1_records, return_per_parameter, return_k1)


def run_alpha_tables(path, status: dict, **options):
    """(α table, per-coordinate table, alpha_k1 table) of one run's dump, as ``rule alpha`` writes them:
    ``alpha_table`` of the dump when the run's ``status`` is "ok"; for a diverged run α is not
    estimated (its noise is not trusted) but every checkpoint gets its rows, empty, and the dump is
    still opened so that a corrupt one is reported. Every α row carries ``run_status`` and
    ``diverged_at`` (sgnoise.aggregate.mark_run_status). ``options``: those of ``alpha_table``."""
    from sgnoise.aggregate import mark_run_status, unestimated_alpha_table

    if status["status"] == "ok":
        alpha, per_parameter, alpha_k1 = alpha_table(path, return_per_parameter=True, return_k1=True, **options)
    else:
        with NoiseDump(path) as dump:
            iterations = dump.iterations
        alpha = unestimated_alpha_table(iterations, options.get("methods", ["mohammadi"]), options.get("views", ["pooled"]),
                                        COLUMNS)
        per_parameter = unestimated_alpha_table([], [], [], PER_PARAMETER_COLUMNS)
        alpha_k1 = unestimated_alpha_table([], [], [], K1_COLUMNS)
    return mark_run_status(alpha, status), per_parameter, alpha_k1


HILL_PLOT_COLUMNS = ["iteration", "method", "k", "alpha", "n_samples", "k_auto", "tail_fraction"]


def hill_plot_table(path, iteration=None, points: int = 60, zeros: str = "exclude") -> pd.DataFrame:
    """α̂ against k for Hill, the moment estimator and Pickands (``tail.tail_index_curves``) on the
    pooled entries of the stored partition columns (the ``pooled_stored`` view's sample) of one
    checkpoint (default: the last) of the dump at ``path``: about ``points`` log-spaced k per method,
    with ``k_auto`` marking the k the α table uses (⌊n^0.6⌋, Pickands ⌊n^0.6/4⌋) and ``tail_fraction``
    = (entries read)/n (Hill, moment: k + 1; Pickands: 4k)."""
    with NoiseDump(path) as dump:
        iteration = dump.iterations[-1] if iteration is None else int(iteration)
        if iteration not in dump.iterations:
            raise ValueError(f"{path}: no checkpoint at iteration {iteration}; it has {dump.iterations}")
        sample = tail.prepare_sample(dump.noise_array(iteration), zeros)
    n = sample.size
    ks = {method: tail.k_grid(n, points, method) for method in tail.TOP_METHODS}
    auto = {method: tail.TOP_K[method](n) for method in tail.TOP_METHODS}
    ks = {method: np.union1d(values, [auto[method]]) for method, values in ks.items()}
    curves = tail.tail_index_curves(sample, ks, zeros="keep")
    frames = [pd.DataFrame({"iteration": iteration, "method": method, "k": ks[method], "alpha": curves[method],
                            "n_samples": n, "k_auto": ks[method] == auto[method],
                            "tail_fraction": [tail.top_count(method, n, int(k)) / n for k in ks[method]]})
              for method in tail.TOP_METHODS]
    return pd.concat(frames, ignore_index=True)[HILL_PLOT_COLUMNS]


def alpha_views(matrix, random_matrix=None, column_layer=None, layer_names=None, iteration=0, methods=("mohammadi",),
                views=("pooled",), zeros="exclude", method_options=None, ci=None, normality=None,
                memory_budget_mb=DEFAULT_MEMORY_BUDGET_MB, per_parameter_source="auto", return_per_parameter=False,
                per_parameter_methods=None, k1=None, pooled_statistics=None, pooled_zeros="exclude",
                null_columns=DEFAULT_NULL_COLUMNS):
    """``alpha_table`` for one noise matrix held in memory (mini-batches × coordinates); without
    ``column_layer`` all columns form one layer named "all". ``pooled_statistics``: {"pooled": ...,
    "pooled_test": ...} streamed in a noise pass (sgnoise.tail.pooled), for the streamed views."""
    settings = _settings(methods, views, zeros, method_options, ci, normality, memory_budget_mb, per_parameter_source,
                         per_parameter_methods, k1, null_columns)
    partition = MatrixSource.from_array(matrix)
    random = MatrixSource.from_array(random_matrix) if random_matrix is not None else None
    if random is not None and random.shape[1] != partition.shape[1]:
        raise ValueError(f"random_matrix has {random.shape[1]} columns, matrix has {partition.shape[1]}")
    n_columns = partition.shape[1]
    if column_layer is None:
        column_layer, layer_names = np.zeros(n_columns, dtype=np.int64), ["all"]
    column_layer = np.asarray(column_layer)
    if column_layer.shape != (n_columns,):
        raise ValueError(f"column_layer must have one entry per column ({n_columns}), got shape {column_layer.shape}")
    if layer_names is None:
        layer_names = [str(i) for i in range(int(column_layer.max()) + 1)]
    if pooled_statistics is None and "pooled" in settings["views"]:
        if settings["zeros"] == "keep" and not np.all(np.asarray(matrix) != 0):
            raise ValueError("noise matrix contains exact zeros and zeros='keep'; no estimator takes log|0| "
                             "(use zeros='exclude')")
        pooled_statistics = {"pooled": statistics_of_matrix(partition, settings, pooled_zeros)}
    rows, per_parameter, k1_records = checkpoint_rows(partition, random, column_layer, list(layer_names),
                                                      np.arange(n_columns), iteration, settings, pooled_statistics,
                                                      pooled_zeros)
    return _frames(rows, per_parameter, k1_records, return_per_parameter)


def method_options_from_config(method_options: dict) -> dict:
    """Estimator options from the config's ``method_options`` block: null values mean "the default"."""
    return {name: {key: value for key, value in (options or {}).items() if value is not None}
            for name, options in (method_options or {}).items()}


def alpha_table_options(alpha_config: dict) -> dict:
    """Keyword arguments of ``alpha_table`` from the validated ``alpha:`` config block
    (schemas/alpha.schema.yaml); the ``validation`` sub-block is not used here. A null
    ``per_parameter_methods`` keeps the per-coordinate α̂ of the first method only."""
    keys = ("methods", "views", "zeros", "method_options", "ci", "normality", "memory_budget_mb", "per_parameter_source",
            "per_parameter_methods", "k1", "null_columns")
    options = {key: alpha_config[key] for key in keys if key in alpha_config}
    if "method_options" in options:
        options["method_options"] = method_options_from_config(options["method_options"])
    if options.get("per_parameter_methods", "absent") is None:
        options["per_parameter_methods"] = list(options.get("methods", ["mohammadi"]))[:1]
    return options
