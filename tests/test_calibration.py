"""Calibrated uncertainty: Gaussianity tests hold their level on Gaussian input of the study's shapes,
the per-parameter null band, and the column omnibus against independent references."""

import numpy as np
import pytest

from sgnoise import tail

LEVEL = 0.05


def gaussian_columns(rng, n_rows, n_columns, log_scale_sd=1.5, zero_fraction=0.0, partition=True):
    """Independent Gaussian columns with log-normal scales; rows of a zero-sum partition (centred)."""
    matrix = rng.standard_normal((n_rows, n_columns)) * np.exp(log_scale_sd * rng.standard_normal(n_columns))
    if partition:
        matrix -= matrix.mean(axis=0)
    if zero_fraction:
        matrix[rng.random(matrix.shape) < zero_fraction] = 0.0
    return matrix


def test_exact_null_moments_match_simulation():
    """Fisher's and Pearson's exact moments of g1 and b2 against 400 000 simulated Gaussian samples."""
    rng = np.random.default_rng(0)
    for n in (8, 12, 40):
        x = rng.standard_normal((n, 400_000))
        counts, m2, m3, m4 = tail.column_moments(x)
        g1, b2 = m3 / m2**1.5, m4 / m2**2
        var_g1, mean_b2, var_b2 = tail.gaussian_moment_null(n)
        assert np.mean(g1) == pytest.approx(0, abs=4 * np.sqrt(var_g1 / x.shape[1]))
        assert np.var(g1) == pytest.approx(var_g1, rel=0.02)
        assert np.mean(b2) == pytest.approx(mean_b2, abs=5 * np.sqrt(var_b2 / x.shape[1]))
        assert np.var(b2) == pytest.approx(var_b2, rel=0.05)


def test_column_omnibus_with_zeros_uses_each_columns_own_count():
    rng = np.random.default_rng(1)
    matrix = gaussian_columns(rng, 40, 300, zero_fraction=0.5)
    statistic, pvalue, used = tail.column_omnibus(*tail.column_moments(matrix))
    from scipy import stats

    kept = [c[c != 0] for c in matrix.T]
    kept = [v for v in kept if v.size >= 8]
    n = np.array([v.size for v in kept])
    var_g1, mean_b2, var_b2 = tail.gaussian_moment_null(n)
    z_s = sum(stats.skew(v) for v in kept) / np.sqrt(var_g1.sum())
    z_k = sum(stats.kurtosis(v, fisher=False) for v in kept) - mean_b2.sum()
    assert used == len(kept) and statistic == pytest.approx(z_s**2 + (z_k / np.sqrt(var_b2.sum())) ** 2, rel=1e-9)
    assert pvalue == pytest.approx(stats.chi2.sf(statistic, 2), rel=1e-9)


@pytest.mark.parametrize("shape, zero_fraction", [((40, 1000), 0.0), ((40, 3000), 0.3), ((600, 1000), 0.0),
                                                   ((120, 5000), 0.1)])
def test_column_omnibus_holds_its_level_on_gaussian_columns(shape, zero_fraction):
    """120 seeded replicates per shape: rejection rate at level 0.05 within 2-9 %; the test of the pooled
    entries (normality.pooled: entries) rejects every one of the same matrices."""
    rng = np.random.default_rng([2, *shape])
    pvalues, entries = [], []
    for replicate in range(120):
        matrix = gaussian_columns(rng, *shape, zero_fraction=zero_fraction)
        pvalues.append(tail.column_omnibus(*tail.column_moments(matrix))[1])
        if replicate < 5:
            entries.append(tail.normality_test(matrix)[1])
    assert 0.02 <= np.mean(np.array(pvalues) < LEVEL) <= 0.09
    assert max(entries) < 1e-10


def test_column_omnibus_at_the_largest_width():
    rng = np.random.default_rng(3)
    pvalues = [tail.column_omnibus(*tail.column_moments(gaussian_columns(rng, 40, 100_000)))[1] for _ in range(100)]
    assert 0.02 <= np.mean(np.array(pvalues) < LEVEL) <= 0.09


def test_column_omnibus_has_power_against_stable_columns():
    from scipy import stats

    rng = np.random.default_rng(4)
    matrix = stats.levy_stable.rvs(1.8, 0.0, size=(40, 2000), random_state=rng)
    assert tail.column_omnibus(*tail.column_moments(matrix - matrix.mean(axis=0)))[1] < 1e-6


@pytest.mark.parametrize("test", tail.NORMALITY_TESTS)
@pytest.mark.parametrize("n_rows, zero_fraction", [(40, 0.0), (40, 0.2), (200, 0.0), (600, 0.0)])
def test_per_coordinate_tests_hold_their_level(test, n_rows, zero_fraction):
    """The per_parameter view's reject_fraction: each coordinate's own test, on 20 000 Gaussian columns."""
    rng = np.random.default_rng([5, n_rows])
    matrix = gaussian_columns(rng, n_rows, 20_000, zero_fraction=zero_fraction)
    pvalues = tail.normality_per_column(matrix, test)[1]
    assert 0.02 <= np.mean(pvalues[np.isfinite(pvalues)] < LEVEL) <= 0.09


def test_every_view_reports_a_calibrated_test():
    """alpha_views wires the column omnibus into every pooled view: 100 seeded replicates."""
    rng = np.random.default_rng(6)
    rejected = {}
    for _ in range(100):
        partition = gaussian_columns(rng, 40, 1000, zero_fraction=0.1)
        table = tail.alpha_views(partition, views=("pooled", "pooled_stored", "pooled_normalised", "per_layer"),
                                 null_columns=0, normality={"level": LEVEL})
        for row in table.itertuples():
            rejected.setdefault(row.view, []).append(row.normality_pvalue < LEVEL)
        assert set(table["normality_test"]) == {"column_omnibus"}
    for view, flags in rejected.items():
        assert 0.02 <= np.mean(flags) <= 0.09, view
    assert table.loc[table["view"] == "pooled_stored", "normality_statistic"].item() == pytest.approx(
        tail.column_omnibus(*tail.column_moments(partition))[0], rel=1e-12)


def test_normality_pooled_entries_is_the_old_test_and_is_named():
    rng = np.random.default_rng(7)
    partition = gaussian_columns(rng, 40, 1000)
    table = tail.alpha_views(partition, views=("pooled_stored",), normality={"pooled": "entries"}, null_columns=0)
    assert table["normality_test"].item() == "dagostino_entries"
    assert table["normality_pvalue"].item() == pytest.approx(tail.normality_test(partition)[1], abs=0, rel=1e-9)
    with pytest.raises(ValueError, match="normality pooled"):
        tail.alpha_views(partition, views=("pooled_stored",), normality={"pooled": "rows"})


def _per_parameter_row(matrix, random=None, **options):
    table = tail.alpha_views(matrix, random, views=("per_parameter",), **options)
    return table.iloc[0]


def test_null_band_on_gaussian_columns_gives_the_nominal_excess():
    rng = np.random.default_rng(8)
    partition = gaussian_columns(rng, 40, 5000)
    random = gaussian_columns(rng, 200, 5000, partition=False, zero_fraction=0.05)
    row = _per_parameter_row(partition, random)
    assert row.source == "random" and row.n_samples == 200 and row.n_minibatches == 200
    assert 0.02 <= row.excess_fraction <= 0.09
    assert row.null_q05 < row.null_q10 < row.null_median < row.null_q90
    # the band is the estimator's own spread on Gaussian columns of the same shape (brute force, fresh draws)
    brute = tail.alpha_per_column(gaussian_columns(rng, 200, 4000, partition=False, zero_fraction=0.05))
    assert row.null_median == pytest.approx(np.median(brute), abs=0.05)
    assert row.null_q10 == pytest.approx(np.quantile(brute, 0.1), abs=0.06)
    assert row.null_q90 == pytest.approx(np.quantile(brute, 0.9), abs=0.1)
    assert row.q10 == pytest.approx(row.null_q10, abs=0.08) and row.q90 == pytest.approx(row.null_q90, abs=0.12)


def test_null_band_flags_stable_columns_and_follows_the_zero_pattern():
    from scipy import stats

    rng = np.random.default_rng(9)
    heavy = stats.levy_stable.rvs(1.3, 0.0, size=(200, 2000), random_state=rng)
    row = _per_parameter_row(heavy, null_columns=1000)
    assert row.source == "partition" and row.excess_fraction > 0.5
    # zeros: a column with 150 of its 200 entries zero is estimated from 50 in the null as in the data
    sparse = gaussian_columns(rng, 200, 2000, partition=False)
    sparse[:150] = 0.0
    dense_null = _per_parameter_row(gaussian_columns(rng, 200, 2000, partition=False))
    sparse_row = _per_parameter_row(sparse)
    assert (sparse_row.null_q90 - sparse_row.null_q10) > 1.5 * (dense_null.null_q90 - dense_null.null_q10)
    assert 0.02 <= sparse_row.excess_fraction <= 0.09


def test_null_band_is_seeded_and_can_be_switched_off():
    rng = np.random.default_rng(10)
    matrix = gaussian_columns(rng, 100, 1000)
    first, second = _per_parameter_row(matrix), _per_parameter_row(matrix)
    assert first.null_q05 == second.null_q05 and first.excess_fraction == second.excess_fraction
    other_seed = _per_parameter_row(matrix, ci={"seed": 1})
    assert other_seed.null_q05 != first.null_q05
    off = _per_parameter_row(matrix, null_columns=0)
    assert np.isnan(off.null_q05) and np.isnan(off.excess_fraction)
    with pytest.raises(ValueError, match="null_columns"):
        _per_parameter_row(matrix, null_columns=-1)


def test_calibration_study_coverage_size_and_controls():
    """The default (analytic) interval of the paper's estimator covers α in 90-98 % of 200 seeded i.i.d.
    replicates at α < 2; every reported Gaussianity test holds its level; the controls' answers."""
    from sgnoise.tail import synthetic

    table = synthetic.calibration_study(alphas=(1.2, 1.5, 1.8, 2.0), methods=["mohammadi", "hill"], replicates=200,
                                        n_rows=40, n_columns=250, test_columns=1000, seed=0)
    assert list(table.columns) == synthetic.CALIBRATION_COLUMNS
    coverage = table[(table["study"] == "coverage") & (table["method"] == "mohammadi")].set_index(["sample", "truth"])
    for alpha in (1.2, 1.5, 1.8):
        assert 0.90 <= coverage.loc[("iid", alpha), "rate"] <= 0.98, alpha
    assert 0.85 <= coverage.loc[("iid", 2.0), "rate"] <= 1.0
    # rows of a zero-sum partition share their column's (heavy-tailed) mean: too narrow at small α
    assert coverage.loc[("partition", 1.2), "rate"] < 0.8
    size = table[table["study"] == "size"].set_index("method")["rate"]
    for test in ("column_omnibus", "dagostino_per_coordinate", "jarque_bera_per_coordinate"):
        assert 0.02 <= size[test] <= 0.09, test
    assert size["dagostino_entries"] > 0.9  # the pooled entries of spread scales are not one Gaussian
    power = table[table["study"] == "power"].set_index("method")["rate"]
    assert power["column_omnibus"] > 0.9
    controls = table[table["study"] == "control"].set_index(["sample", "method"])
    assert controls.loc[("t1.5", "hill"), "mean_estimate"] == pytest.approx(1.5, abs=0.15)
    assert controls.loc[("t3", "hill"), "truth"] == 2.0 and controls.loc[("laplace", "mohammadi"), "truth"] == 2.0
    again = synthetic.calibration_study(alphas=(1.5,), methods=["mohammadi"], replicates=5, controls=(), seed=0)
    assert again.equals(synthetic.calibration_study(alphas=(1.5,), methods=["mohammadi"], replicates=5, controls=(), seed=0))


def test_calibration_inputs_are_checked():
    from sgnoise.tail import synthetic

    with pytest.raises(ValueError, match="unknown control"):
        synthetic.calibration_study(replicates=2, controls=("cauchy",))
    with pytest.raises(ValueError, match="replicates"):
        synthetic.calibration_study(replicates=1)


def test_estimator_calibration_figure_draws_the_table():
    import pandas as pd

    from sgnoise.tail import synthetic
    from sgnoise.figures.calibration import estimator_calibration_figure

    table = synthetic.calibration_study(alphas=(1.2, 2.0), methods=["mohammadi", "hill"], replicates=4, n_columns=50,
                                        test_columns=50, seed=1)
    fig = estimator_calibration_figure(table)
    coverage_ax, size_ax, power_ax, control_ax = fig.axes
    drawn = {line.get_label(): line.get_ydata() for line in coverage_ax.lines if line.get_label() in ("mohammadi", "hill")}
    expected = table[(table["study"] == "coverage") & (table["sample"] == "iid")].set_index("method")
    np.testing.assert_allclose(drawn["mohammadi"], expected.loc["mohammadi"].sort_values("truth")["rate"])
    sizes = table[table["study"] == "size"]
    assert sorted(p.get_width() for p in size_ax.patches) == sorted(sizes["rate"])
    with pytest.raises(ValueError, match="lacks columns"):
        estimator_calibration_figure(pd.DataFrame({"study": []}))
