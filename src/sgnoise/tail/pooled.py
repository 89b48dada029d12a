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
"""

from __future__ import annotations

import math

import numpy as np
import torch

from sgnoise import tail
from sgnoise.study.spec import DEFAULT_K1_GRID  # noqa: F401  (re-exported)

ZERO_POLICIES = ("exclude", "eps")
EPS = float(np.spacing(1))  # numpy's spacing(1), the reference code's eps
K1_POLICIES = ("reference", "fixed", "median")
MEDIAN_K1_GRID = (2, 5, 10, 20, 50, 100, 500, 1000)
STATISTICS = ("k1", "sum_d", "sum_d2", "count", "row_sum_d", "row_count", "cell_sum_d", "cell_count", "n_entries",
              "n_columns", "n_used", "power_sums", "k1_reference")
PER_K1 = ("k1", "sum_d", "sum_d2", "count", "row_sum_d", "row_count", "cell_sum_d", "cell_count")
COLUMN_WINDOWS = 64  # column windows of the two-way cluster interval (merged so that each spans ≥ K1/2 columns)
WINDOW_SPAN_K1 = 0.5


def reference_block_length(n_used: int) -> int:
    """K1 of the reference code for N samples (``sgnoise.tail.block_lengths(N, "reference")``)."""
    return tail.block_lengths(int(n_used), "reference")[0]


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


# ----------------------------------------------------------------------------- α from the statistics


def _alpha_at(statistics, index):
    k = int(statistics["k1"][index])
    count = int(statistics["count"][index])
    if count == 0 or k > int(statistics["n_used"]) // 2:
        return np.nan, count
    return tail.alpha_from_inverse(statistics["sum_d"][index] / count / math.log(k)), count


MINIMUM_CLUSTERS = 5  # fewer row or column clusters: the two-way interval falls back to the analytic one


def two_way_interval(cell_sum_d: np.ndarray, cell_count: np.ndarray, k1: int, n_columns: int, level: float = 0.95):
    """Two-way cluster-robust interval of 1/α̂ = mean d / log K1 (Cameron, Gelbach & Miller 2011),
    clusters the mini-batch rows and the column windows, from the per-cell sums of the block terms
    (``cell_sum_d``, ``cell_count``: rows × ``COLUMN_WINDOWS``). With e_c = Σ_{i∈c} (d_i − d̄),
    V_A = A/(A − 1) Σ_c e_c² / n² for a partition A of the blocks into clusters, and
    V = V_rows + V_columns − V_cells (if ≤ 0: the larger of V_rows, V_columns); the half-width is
    t_{G−1, (1+level)/2} √V / log K1 with G the smaller number of clusters.

    Why: the rows of a zero-sum partition share each column's mean (the full gradient), so block
    terms at the same columns of different rows are correlated and the i.i.d. analytic interval is
    too narrow (coverage 0.52 at α = 1.2 on 40 × 20 000 partition matrices; this one 0.90); rows
    (one mini-batch's coordinates) may be correlated as well. Windows are merged in runs of
    ⌈K1/2 · windows / P⌉ so that each spans at least K1/2 columns: on 40 × 20 000 SαS(1.5) partition
    matrices the column variance is then unbiased (rms of the estimated sd 0.0099 against the true
    0.0101, 25 clusters; windows of 2 K1: the same rms with 11 clusters, so a noisier interval).
    Returns None when fewer than ``MINIMUM_CLUSTERS`` row or column clusters hold blocks."""
    from scipy import stats

    windows = cell_sum_d.shape[1]
    merge = max(1, math.ceil(WINDOW_SPAN_K1 * k1 * windows / max(int(n_columns), 1)))
    groups = np.arange(windows) // merge
    sums = np.zeros((cell_sum_d.shape[0], groups[-1] + 1))
    counts = np.zeros_like(sums)
    np.add.at(sums, (slice(None), groups), cell_sum_d)
    np.add.at(counts, (slice(None), groups), cell_count)
    n = counts.sum()
    if n < 2:
        return None
    residual = sums - counts * (sums.sum() / n)

    def variance(cluster_sums, cluster_counts):
        used = cluster_counts > 0
        size = int(used.sum())
        return (size / (size - 1) * float(np.sum(cluster_sums[used] ** 2)) / n**2 if size > 1 else np.nan), size

    v_rows, n_rows = variance(residual.sum(axis=1), counts.sum(axis=1))
    v_columns, n_windows = variance(residual.sum(axis=0), counts.sum(axis=0))
    if min(n_rows, n_windows) < MINIMUM_CLUSTERS:
        return None
    v_cells, _ = variance(residual.reshape(-1), counts.reshape(-1))
    v = v_rows + v_columns - v_cells
    if not v > 0:
        v = max(v_rows, v_columns)
    centre = sums.sum() / n / math.log(k1)
    half = stats.t.ppf(0.5 + level / 2, min(n_rows, n_windows) - 1) * math.sqrt(v) / math.log(k1)
    return tail.inverse_interval(centre - half, centre + half)


def _interval_at(statistics, index, ci: dict):
    """Two-way cluster interval (``auto``, when the statistics have the cells; :func:`two_way_interval`),
    analytic (delta method over the block terms, i.i.d.) or bootstrap over mini-batch rows (each row's
    block terms resampled together), as ``sgnoise.tail`` does for a sample held in memory."""
    k = int(statistics["k1"][index])
    count = int(statistics["count"][index])
    how = "analytic" if ci["method"] in ("auto", "analytic") else ci["method"]
    if how == "none" or count < 2:
        return np.nan, np.nan, "none"
    if ci["method"] == "auto" and "cell_sum_d" in statistics:
        interval = two_way_interval(statistics["cell_sum_d"][index], statistics["cell_count"][index], k,
                                    int(statistics["n_columns"]), ci["level"])
        if interval is not None:
            return (*interval, "two_way")
    if how == "analytic":
        mean = statistics["sum_d"][index] / count
        variance = max(statistics["sum_d2"][index] / count - mean * mean, 0.0) * count / (count - 1)
        centre = mean / math.log(k)
        half = tail._z(ci["level"]) * math.sqrt(variance / count) / math.log(k)
        low, high = tail.inverse_interval(centre - half, centre + half)
        return low, high, how
    sums, counts = statistics["row_sum_d"][index], statistics["row_count"][index]
    used = counts > 0
    sums, counts = sums[used], counts[used]
    if sums.size < 2:
        return np.nan, np.nan, "none"
    rng = np.random.default_rng(ci["seed"])
    picks = rng.integers(0, sums.size, size=(ci["replicates"], sums.size))
    inverse = sums[picks].sum(axis=1) / counts[picks].sum(axis=1) / math.log(k)
    low, high = tail.percentile_interval(inverse, ci["level"])
    return low, high, how


def k1_table(statistics: dict, ci: dict) -> list[dict]:
    """One record per measured K1: k1, alpha, ci_low, ci_high, ci_method, n_blocks (the alpha_vs_k1 view)."""
    records = []
    for index, k in enumerate(statistics["k1"]):
        alpha, count = _alpha_at(statistics, index)
        low, high, how = _interval_at(statistics, index, ci) if np.isfinite(alpha) else (np.nan, np.nan, "none")
        records.append(dict(k1=int(k), alpha=alpha, ci_low=low, ci_high=high, ci_method=how, n_blocks=count))
    return records


def select_k1(statistics: dict, policy: str = "reference", fixed=None, grid=MEDIAN_K1_GRID) -> list[int]:
    """The measured K1 that a policy uses: the reference one, one fixed K1 for every compared run, or
    the members of a grid (their median estimate is reported) that are valid for this N."""
    measured = [int(k) for k in statistics["k1"]]
    n_used = int(statistics["n_used"])
    if policy == "reference":
        chosen = [int(statistics["k1_reference"])]
    elif policy == "fixed":
        chosen = [int(fixed)]
    elif policy == "median":
        chosen = tail.median_grid_members(grid, n_used)
        if not chosen:
            return []
    else:
        raise ValueError(f"unknown K1 policy {policy!r}; expected one of {', '.join(K1_POLICIES)}")
    missing = [k for k in chosen if k not in measured]
    if missing:
        raise ValueError(f"K1 {missing} were not measured in the noise pass (measured: {measured}); add them to "
                         "noise.pooled_k1_grid and retrain, or choose another alpha.k1 policy")
    return chosen


def pooled_estimate(statistics: dict, ci: dict, policy: str = "reference", fixed=None, grid=MEDIAN_K1_GRID) -> dict:
    """alpha, ci_low, ci_high, ci_method, k1 (the median member's for the median policy), n_blocks."""
    chosen = select_k1(statistics, policy, fixed, grid) if int(statistics["k1_reference"]) else []
    if not chosen:
        return dict(alpha=np.nan, ci_low=np.nan, ci_high=np.nan, ci_method="none", k1=np.nan, n_blocks=0)
    index = {int(k): i for i, k in enumerate(statistics["k1"])}
    values = [_alpha_at(statistics, index[k])[0] for k in chosen]
    member = chosen[tail.median_member(values)] if len(chosen) > 1 else chosen[0]
    alpha, count = _alpha_at(statistics, index[member])
    alpha = float(np.median(values)) if len(chosen) > 1 else alpha
    low, high, how = _interval_at(statistics, index[member], ci) if np.isfinite(alpha) else (np.nan, np.nan, "none")
    return dict(alpha=alpha, ci_low=low, ci_high=high, ci_method=how, k1=member, n_blocks=count)


def normality_from_statistics(statistics: dict, test: str):
    """Gaussianity test of the pooled entries from their power sums (``sgnoise.tail.normality_from_moments``)."""
    n = int(statistics["n_used"])
    if test == "none" or n < 8:
        return np.nan, np.nan
    s1, s2, s3, s4 = (float(v) / n for v in statistics["power_sums"])
    mean = s1
    m2 = s2 - mean ** 2
    m3 = s3 - 3 * mean * s2 + 2 * mean ** 3
    m4 = s4 - 4 * mean * s3 + 6 * mean ** 2 * s2 - 3 * mean ** 4
    return tail.normality_from_moments(n, m2, m3, m4, test)
