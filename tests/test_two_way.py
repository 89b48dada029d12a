"""The pooled view's default interval: two-way clusters (mini-batch rows × column windows) from the
streamed cell sums, against a brute-force port from the explicit block terms, and its coverage on the
rows of a zero-sum partition, where the i.i.d. interval is far too narrow."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sgnoise.tail import pooled, synthetic
from sgnoise.tail.pooled_alpha import _interval_at
from sgnoise.sde.levy import sample_sas

CI = {"method": "auto", "level": 0.95, "replicates": 0, "seed": 0}


def brute_force_terms(matrix, k1):
    """Block terms of the flattened non-zero entries (row-major, blocks of K1 consecutive non-zero
    entries across row ends), each with the row and column of its last entry."""
    rows, columns = np.nonzero(matrix)  # row-major order
    values = matrix[rows, columns].astype(np.float64)
    n = values.size // k1 * k1
    blocks = values[:n].reshape(-1, k1)
    d = np.log(np.abs(blocks.sum(axis=1))) - np.log(np.abs(blocks)).mean(axis=1)
    last = np.arange(k1 - 1, n, k1)
    return pd.DataFrame({"d": d, "row": rows[last], "column": columns[last]})


def brute_force_two_way(terms, k1, n_columns, windows, level):
    merge = max(1, math.ceil(pooled.WINDOW_SPAN_K1 * k1 * windows / n_columns))
    terms = terms.assign(window=terms["column"] * windows // n_columns // merge, e=terms["d"] - terms["d"].mean())
    n = len(terms)

    def cluster_variance(keys):
        sums = terms.groupby(keys)["e"].sum()
        return len(sums) / (len(sums) - 1) * float((sums**2).sum()) / n**2, len(sums)

    v_rows, n_rows = cluster_variance(["row"])
    v_windows, n_windows = cluster_variance(["window"])
    v_cells, _ = cluster_variance(["row", "window"])
    v = v_rows + v_windows - v_cells
    v = v if v > 0 else max(v_rows, v_windows)
    half = stats.t.ppf(0.5 + level / 2, min(n_rows, n_windows) - 1) * math.sqrt(v)
    inverse = terms["d"].mean()
    return (math.log(k1) / (inverse + half), math.log(k1) / (inverse - half)), (n_rows, n_windows)


@pytest.mark.parametrize("zeros", [False, True])
def test_streamed_two_way_interval_equals_the_brute_force_port(zeros):
    rng = np.random.default_rng(4)
    matrix = sample_sas(1.4, (30, 6000), rng=rng)
    matrix -= matrix.mean(axis=0)
    if zeros:  # dead coordinates and scattered exact zeros: columns are those of the kept entries
        matrix[:, 100:160] = 0.0
        matrix[rng.random(matrix.shape) < 0.05] = 0.0
    statistics = pooled.pooled_statistics(lambda: iter(matrix), 30, k1_grid=(50,), expected_used=np.count_nonzero(matrix))
    index = list(statistics["k1"]).index(50)
    terms = brute_force_terms(matrix, 50)
    windows = terms.assign(window=terms["column"] * pooled.COLUMN_WINDOWS // matrix.shape[1])
    cells = windows.groupby(["row", "window"])["d"].agg(["sum", "count"])
    stream_sums, stream_counts = statistics["cell_sum_d"][index], statistics["cell_count"][index]
    for (row, window), (total, count) in cells.iterrows():
        assert stream_counts[row, window] == count
        assert stream_sums[row, window] == pytest.approx(total, rel=1e-9)
    assert stream_counts.sum() == len(terms)
    expected, clusters = brute_force_two_way(terms, 50, matrix.shape[1], pooled.COLUMN_WINDOWS, 0.95)
    assert min(clusters) >= pooled.MINIMUM_CLUSTERS
    low, high, how = _interval_at(statistics, index, CI)
    assert how == "two_way"
    assert (low, high) == pytest.approx(expected, rel=1e-9)
    # the analytic (i.i.d.) interval stays available, and is what old dumps without cells get
    assert _interval_at(statistics, index, {**CI, "method": "analytic"})[2] == "analytic"
    old = {key: value for key, value in statistics.items() if not key.startswith("cell_")}
    assert _interval_at(old, index, CI)[2] == "analytic"


def test_two_way_falls_back_to_analytic_with_too_few_column_clusters():
    matrix = np.random.default_rng(0).standard_normal((20, 400))
    statistics = pooled.pooled_statistics(lambda: iter(matrix), 20, k1_grid=(2, 200), expected_used=matrix.size)
    hows = {int(k): _interval_at(statistics, i, CI)[2] for i, k in enumerate(statistics["k1"])}
    assert hows[2] == "two_way" and hows[200] == "analytic"  # K1 = 200: 400 columns hold one window of K1/2 … two


def test_two_way_interval_covers_on_partition_rows_where_the_iid_one_does_not():
    """100 seeded 40 × 20 000 SαS(1.2) matrices centred per column (a zero-sum partition): the
    two-way interval covers α in about 92 % (0.91–0.92 measured at 100–200 replicates), the i.i.d.
    analytic one in about 45 %."""
    covered = {"auto": 0, "analytic": 0}
    replicates = 100
    for replicate in range(replicates):
        matrix = sample_sas(1.2, (40, 20_000), rng=np.random.default_rng([11, replicate]))
        matrix -= matrix.mean(axis=0)
        statistics = pooled.pooled_statistics(lambda: iter(matrix), 40, k1_grid=(), expected_used=matrix.size)
        for method in covered:
            estimate = pooled.pooled_estimate(statistics, {**CI, "method": method})
            covered[method] += estimate["ci_low"] <= 1.2 <= estimate["ci_high"]
    assert 0.86 <= covered["auto"] / replicates <= 0.99, covered
    assert covered["analytic"] / replicates <= 0.65, covered


def test_calibration_study_reports_the_streamed_interval():
    table = synthetic.calibration_study(alphas=(1.5,), methods=("mohammadi",), replicates=4, n_rows=20, n_columns=50,
                                        controls=(), test_columns=50, pooled_columns=3000, pooled_replicates=3)
    rows = table[table["method"] == synthetic.POOLED_METHOD]
    assert list(rows["sample"]) == ["iid", "partition"] and set(rows["replicates"]) == {3}
    assert set(rows["n_columns"]) == {3000} and rows["mean_width"].notna().all()
    none = synthetic.calibration_study(alphas=(1.5,), methods=("mohammadi",), replicates=4, n_rows=20, n_columns=50,
                                       controls=(), test_columns=50)
    assert synthetic.POOLED_METHOD not in set(none["method"])
