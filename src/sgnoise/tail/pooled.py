"""The paper's pooled tail index over all P coordinates, streamed row by row in the noise pass.

The reference code (Şimşekli et al. 2019, ``alpha_estimator`` and its caller) flattens the whole
K × P noise matrix in row-major order (mini-batch by mini-batch, parameters in
``parameters_to_vector`` order), takes K1 = the largest divisor of N = K·P not above √N, sums
*consecutive* blocks of K1 entries, and returns 1/α̂ = [mean log|Y_i| − mean log|X_j|] / log K1,
adding eps = 2.2e-16 inside both logs. :class:`PooledStream` computes the sufficient statistics of
that estimate for several K1 at once while the rows are produced (on the rows' device, float64),
so no K × P matrix needs to exist: per K1 the sum and sum of squares of the block terms
d_i = log|Y_i| − mean_{j∈block i} log|X_j|, their count, their sums per mini-batch row (for a
bootstrap over mini-batches) and per cell of mini-batch row × column window (``COLUMN_WINDOWS``
equal windows of the P coordinates; a block belongs to the window of its last entry) for the
two-way cluster interval (:func:`two_way_interval`). Blocks run across row ends exactly as in the
flattened matrix.

Zero policy (``zeros``): ``exclude`` (default) drops exact zeros from the flattened sequence first
(so N counts the non-zero entries and blocks are formed from the remaining ones, in order);
``eps`` is the reference code's: every entry kept, eps added to |X| and |Y| inside the logs.

This module imports torch (the rows may be CUDA tensors); ``import sgnoise.tail`` does not import it.
α̂ and its intervals from the statistics (:func:`pooled_estimate`, :func:`k1_table`,
:func:`two_way_interval`, ...) live in the torch-free :mod:`sgnoise.tail.pooled_alpha` and are
re-exported here.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from sgnoise.tail._estimators import block_lengths
from sgnoise.study.spec import DEFAULT_K1_GRID  # noqa: F401  (re-exported)
from sgnoise.tail.pooled_alpha import (K1_POLICIES, MEDIAN_K1_GRID, MINIMUM_CLUSTERS, WINDOW_SPAN_K1, k1_table,
                                       normality_from_statistics, pooled_estimate, select_k1, two_way_interval)

ZERO_POLICIES = ("exclude", "eps")
EPS = float(np.spacing(1))  # numpy's spacing(1), the reference code's eps
STATISTICS = ("k1", "sum_d", "sum_d2", "count", "row_sum_d", "row_count", "cell_sum_d", "cell_count", "n_entries",
              "n_columns", "n_used", "power_sums", "k1_reference")
PER_K1 = ("k1", "sum_d", "sum_d2", "count", "row_sum_d", "row_count", "cell_sum_d", "cell_count")
COLUMN_WINDOWS = 64  # column windows of the two-way cluster interval (merged so that each spans ≥ K1/2 columns)

__all__ = ["COLUMN_WINDOWS", "DEFAULT_K1_GRID", "EPS", "K1_POLICIES", "MEDIAN_K1_GRID", "MINIMUM_CLUSTERS", "PER_K1",
           "STATISTICS", "WINDOW_SPAN_K1", "ZERO_POLICIES", "PooledStream", "k1_table", "merge_statistics",
           "normality_from_statistics", "pooled_estimate", "pooled_statistics", "pooled_statistics_many",
           "reference_block_length", "select_k1", "two_way_interval"]


def reference_block_length(n_used: int) -> int:
    """K1 of the reference code for N samples (``sgnoise.tail.block_lengths(N, "reference")``)."""
    return block_lengths(int(n_used), "reference")[0]


class _Numpy:
    """Array operations of the stream on CPU (numpy: several times faster than torch's CPU kernels for
    masked selection, float64 logs and cumulative sums)."""

    @staticmethod
    def float64(row):
        return np.asarray(row.detach().cpu().numpy() if isinstance(row, torch.Tensor) else row, dtype=np.float64).reshape(-1)

    # einsum, not dot or vdot: those call the multi-threaded BLAS ddot, whose threads on a loaded machine
    # spin against the other jobs (2–3 ms instead of 15 µs per 20 000 entries); einsum's loop is numpy's own
    cumsum = staticmethod(np.cumsum)

    @staticmethod
    def dot(a, b):
        return np.einsum("i,i->", a, b)
    nonzero = staticmethod(np.flatnonzero)

    @staticmethod
    def arange(start, stop, step):
        return np.arange(start, stop, step)

    @staticmethod
    def bincount(ids, weights, length):
        return np.bincount(ids, weights=weights, minlength=length), np.bincount(ids, minlength=length)

    @staticmethod
    def log(a):
        with np.errstate(divide="ignore"):  # log 0 = −inf marks a zero-sum block, dropped by the caller
            return np.log(a)

    @staticmethod
    def differences(at, carry):
        """[at_0 + carry, at_1 − at_0, …]: block sums from cumulative sums at the block ends."""
        out = np.empty(at.shape[0])
        out[0] = at[0] + carry
        np.subtract(at[1:], at[:-1], out=out[1:])
        return out


class _Torch:
    """The same operations on the rows' CUDA device."""

    def __init__(self, device):
        self.device = device

    def float64(self, row):
        return row.reshape(-1).to(self.device, torch.float64)

    log, dot = staticmethod(torch.log), staticmethod(torch.dot)
    cumsum = staticmethod(lambda a: torch.cumsum(a, 0))
    nonzero = staticmethod(lambda mask: torch.nonzero(mask).reshape(-1))

    def arange(self, start, stop, step):
        return torch.arange(start, stop, step, device=self.device)

    @staticmethod
    def bincount(ids, weights, length):
        return (torch.bincount(ids, weights=weights, minlength=length).cpu().numpy(),
                torch.bincount(ids, minlength=length).cpu().numpy())
    differences = staticmethod(lambda at, carry: torch.cat([at[:1] + carry, at[1:] - at[:-1]]))


class PooledStream:
    """Streaming sufficient statistics of the Mohammadi estimator over the flattened noise matrix.

    ``update(row)`` takes the noise rows in order (1-D tensors or arrays, any float dtype);
    ``result()`` returns numpy arrays (see :data:`STATISTICS`). On a CUDA ``device`` the work is
    done there with torch, else with numpy. Blocks that would extend past the last entry are
    incomplete and never counted (the trailing N mod K1 entries are dropped, as the follow-up
    work's port does; the reference K1 divides N, so there are none).
    """

    def __init__(self, k1_values, n_rows: int, zeros: str = "exclude", device="cpu"):
        if zeros not in ZERO_POLICIES:
            raise ValueError(f"unknown pooled zero policy {zeros!r}; expected one of {', '.join(ZERO_POLICIES)}")
        self.k1 = sorted({int(k) for k in k1_values})
        if not self.k1 or self.k1[0] < 2:
            raise ValueError(f"block lengths must be integers >= 2, got {list(k1_values)}")
        self.zeros, self.n_rows = zeros, int(n_rows)
        device = torch.device(device)
        self.ops = _Torch(device) if device.type == "cuda" else _Numpy()
        g = len(self.k1)
        self.carry_sum = [0.0] * g  # sum of x and of log|x| over the open block's entries so far
        self.carry_log = [0.0] * g
        self.carry_length = [0] * g
        self.sums = np.zeros((g, 2))  # Σ d, Σ d² per K1
        self.count = np.zeros(g, dtype=np.int64)
        self.row_sum_d = np.zeros((g, self.n_rows))
        self.row_count = np.zeros((g, self.n_rows), dtype=np.int64)
        self.cell_sum_d = np.zeros((g, self.n_rows, COLUMN_WINDOWS))
        self.cell_count = np.zeros((g, self.n_rows, COLUMN_WINDOWS), dtype=np.int64)
        self.n_columns = 0
        self.power_sums = np.zeros(4)
        self.row = 0
        self.n_entries = 0
        self.n_used = 0

    def update(self, row) -> None:
        """Add the next noise row (its entries in parameter order): the terms d_i of every block of each
        K1 that ends in it, the open block carried into the next row; exact zeros dropped first (``exclude``)."""
        if self.row >= self.n_rows:
            raise ValueError(f"more than the announced {self.n_rows} rows")
        x = self.ops.float64(row)
        if self.row == 0:
            self.n_columns = int(x.shape[0])
        elif int(x.shape[0]) != self.n_columns:
            raise ValueError(f"row {self.row} has {int(x.shape[0])} entries, row 0 had {self.n_columns}")
        self.n_entries += int(x.shape[0])
        columns = None  # the column of every kept entry (None: all kept, the column is the position)
        if self.zeros == "exclude":
            mask = x != 0
            columns = self.ops.nonzero(mask)
            x = x[mask]
        length = int(x.shape[0])
        self.n_used += length
        if length:
            self._blocks(x, length, columns)
        self.row += 1

    def _blocks(self, x, length, columns):
        ops = self.ops
        magnitude = abs(x)
        logs = ops.log(magnitude) if self.zeros == "exclude" else ops.log(magnitude + EPS)
        squared = x * x
        self.power_sums += [float(x.sum()), float(squared.sum()), float(ops.dot(squared, x)), float(ops.dot(squared, squared))]
        cum_x, cum_log = ops.cumsum(x), ops.cumsum(logs)
        total_x, total_log = float(cum_x[-1]), float(cum_log[-1])
        for g, k in enumerate(self.k1):
            first = k - self.carry_length[g]  # 1-based position in this row of the open block's end
            if first > length:
                self.carry_sum[g] += total_x
                self.carry_log[g] += total_log
                self.carry_length[g] += length
                continue
            at_x, at_log = cum_x[first - 1::k], cum_log[first - 1::k]  # cumulative sums at the block ends
            block_x, block_log = ops.differences(at_x, self.carry_sum[g]), ops.differences(at_log, self.carry_log[g])
            n_blocks = int(at_x.shape[0])
            self.carry_sum[g] = total_x - float(at_x[-1])
            self.carry_log[g] = total_log - float(at_log[-1])
            self.carry_length[g] = length - first - k * (n_blocks - 1)
            size = abs(block_x)
            d = (ops.log(size) if self.zeros == "exclude" else ops.log(size + EPS)) - block_log / k
            ends = ops.arange(first - 1, first - 1 + k * n_blocks, k)  # each block's last entry in this row
            total = float(d.sum())
            if not math.isfinite(total):  # a block summing to exactly 0 has no log: dropped
                keep = size != 0
                d = ops.log(size[keep]) - block_log[keep] / k
                ends = ends[keep]
                total = float(d.sum())
            window = (ends if columns is None else columns[ends]) * COLUMN_WINDOWS // self.n_columns
            cell_sum, cell_count = ops.bincount(window, d, COLUMN_WINDOWS)
            self.cell_sum_d[g, self.row] += cell_sum
            self.cell_count[g, self.row] += cell_count
            count = int(d.shape[0])
            self.sums[g] += [total, float(ops.dot(d, d))]
            self.count[g] += count
            self.row_sum_d[g, self.row] += total
            self.row_count[g, self.row] += count

    def result(self) -> dict:
        """The statistics so far (:data:`STATISTICS` but ``k1_reference``), numpy copies."""
        return dict(k1=np.array(self.k1, dtype=np.int64), sum_d=self.sums[:, 0].copy(), sum_d2=self.sums[:, 1].copy(),
                    count=self.count.copy(), row_sum_d=self.row_sum_d.copy(), row_count=self.row_count.copy(),
                    cell_sum_d=self.cell_sum_d.copy(), cell_count=self.cell_count.copy(),
                    n_entries=np.int64(self.n_entries), n_columns=np.int64(self.n_columns), n_used=np.int64(self.n_used),
                    power_sums=self.power_sums.copy())


def merge_statistics(first: dict, second: dict) -> dict:
    """Statistics of the union of the K1 sets of two streams over the same rows (first wins on overlap)."""
    keep = ~np.isin(second["k1"], first["k1"])
    merged = dict(first)
    keys = [key for key in PER_K1 if key in first and key in second]
    for key in keys:
        merged[key] = np.concatenate([first[key], second[key][keep]])
    order = np.argsort(merged["k1"], kind="stable")
    for key in keys:
        merged[key] = merged[key][order]
    return merged


def pooled_statistics(rows, n_rows: int, k1_grid=DEFAULT_K1_GRID, zeros: str = "exclude", expected_used=None,
                      device="cpu") -> dict:
    """Statistics of the pooled estimate over the rows that ``rows()`` yields (called once, or twice
    when ``expected_used`` — N as predicted before the pass — gave a different reference K1 than the
    N counted in it). Always includes the reference K1 of the counted N (``k1_reference``)."""
    def run_pass(feed):
        for row in rows():
            feed(0, row)
    return pooled_statistics_many(run_pass, n_rows, [dict(k1_grid=k1_grid, zeros=zeros)], [expected_used], device)[0]


def pooled_statistics_many(run_pass, n_rows: int, options: list[dict], expected_used: list, device="cpu") -> list[dict]:
    """:func:`pooled_statistics` of several noise matrices produced together (a bundle's members):
    ``run_pass(feed)`` produces every matrix's rows once, in order, calling ``feed(member, row)``."""
    def stream(k1_values, option):
        return PooledStream(k1_values, n_rows, option["zeros"], device)

    streams = []
    for option, expected in zip(options, expected_used):
        guess = [reference_block_length(expected)] if expected and expected >= 4 else []
        streams.append(stream([int(k) for k in option["k1_grid"]] + guess, option))
    run_pass(lambda member, row: streams[member].update(row))
    results = [s.result() for s in streams]
    references = [reference_block_length(int(r["n_used"])) if int(r["n_used"]) >= 4 else 0 for r in results]
    extra = {m: stream([ref], options[m]) for m, (ref, r) in enumerate(zip(references, results))
             if ref and ref not in r["k1"]}
    if extra:  # N differed from its prediction (zeros that only the noise pass could see)
        run_pass(lambda member, row: extra[member].update(row) if member in extra else None)
        for m, s in extra.items():
            results[m] = merge_statistics(results[m], s.result())
    for result, reference in zip(results, references):
        result["k1_reference"] = np.int64(reference)
    return results
