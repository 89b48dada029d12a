"""The pooled α̂ from the statistics that :mod:`sgnoise.tail.pooled` streams in the noise pass
(torch-free): the estimate at each measured K1, the K1 policies (reference, fixed, median of a grid),
and its intervals: the two-way cluster interval over mini-batch rows and column windows (default),
the i.i.d. delta method, or a bootstrap over mini-batch rows.

With the statistics of one K1 (Σ d, Σ d², count of the block terms d_i), 1/α̂ = (Σ d / count) / log K1,
exactly as :func:`sgnoise.tail.mohammadi` on the flattened matrix. :mod:`sgnoise.tail.pooled`
re-exports every name here, so ``from sgnoise.tail.pooled import pooled_estimate`` works where
torch is installed; import this module to stay torch-free.
"""

from __future__ import annotations

import math

import numpy as np

from sgnoise.tail._estimators import median_grid_members, median_member
from sgnoise.tail._intervals import _z, inverse_interval, percentile_interval
from sgnoise.tail._normality import normality_from_moments
from sgnoise.tail._samples import alpha_from_inverse

K1_POLICIES = ("reference", "fixed", "median")
MEDIAN_K1_GRID = (2, 5, 10, 20, 50, 100, 500, 1000)
WINDOW_SPAN_K1 = 0.5  # column windows of the two-way interval are merged to span at least WINDOW_SPAN_K1 · K1 columns


def _alpha_at(statistics, index):
    k = int(statistics["k1"][index])
    count = int(statistics["count"][index])
    if count == 0 or k > int(statistics["n_used"]) // 2:
        return np.nan, count
    return alpha_from_inverse(statistics["sum_d"][index] / count / math.log(k)), count


MINIMUM_CLUSTERS = 5  # fewer row or column clusters: the two-way interval falls back to the analytic one


def two_way_interval(cell_sum_d: np.ndarray, cell_count: np.ndarray, k1: int, n_columns: int, level: float = 0.95):
    """Two-way cluster-robust interval of 1/α̂ = mean d / log K1 (Cameron, Gelbach & Miller 2011),
    clusters the mini-batch rows and the column windows, from the per-cell sums of the block terms
    (``cell_sum_d``, ``cell_count``: rows × ``sgnoise.tail.pooled.COLUMN_WINDOWS``). With e_c = Σ_{i∈c} (d_i − d̄),
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
    return inverse_interval(centre - half, centre + half)


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
        half = _z(ci["level"]) * math.sqrt(variance / count) / math.log(k)
        low, high = inverse_interval(centre - half, centre + half)
        return low, high, how
    sums, counts = statistics["row_sum_d"][index], statistics["row_count"][index]
    used = counts > 0
    sums, counts = sums[used], counts[used]
    if sums.size < 2:
        return np.nan, np.nan, "none"
    rng = np.random.default_rng(ci["seed"])
    picks = rng.integers(0, sums.size, size=(ci["replicates"], sums.size))
    inverse = sums[picks].sum(axis=1) / counts[picks].sum(axis=1) / math.log(k)
    low, high = percentile_interval(inverse, ci["level"])
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
        chosen = median_grid_members(grid, n_used)
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
    member = chosen[median_member(values)] if len(chosen) > 1 else chosen[0]
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
    return normality_from_moments(n, m2, m3, m4, test)
