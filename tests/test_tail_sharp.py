"""sgnoise.tail, sharper: interval widths bounded from both sides (not only coverage from below) and the
aggregation choices (median over a K1 list, the median member's interval) pinned exactly."""

import math

import numpy as np
import pytest

from sgnoise import tail
from sgnoise.tail._estimators import _MCCULLOCH_TABLE
from sgnoise.sde.levy import sample_sas

REPLICATES = 200


@pytest.fixture(scope="module")
def replicates():
    """200 independent SαS(1.5) samples of 4 000."""
    return sample_sas(1.5, (REPLICATES, 4000), rng=np.random.default_rng(5))


def half_width_ratio(estimates, level):
    """Median half-width of the intervals on the 1/α scale over z(level)·sd(1/α̂) across replicates."""
    inverse = np.array([1 / e.alpha for e in estimates])
    half = np.array([(1 / e.ci_low - 1 / e.ci_high) / 2 for e in estimates])
    z = math.sqrt(2) * __import__("scipy.special", fromlist=["erfinv"]).erfinv(level)
    return np.median(half) / (z * inverse.std(ddof=1))


@pytest.mark.parametrize("level", (0.95, 0.8))
@pytest.mark.parametrize("method", tail.METHODS)
def test_analytic_interval_width_matches_the_spread_of_the_estimate(replicates, method, level):
    # measured 0.94–1.13 at 0.95; an interval 3× wider, or at another level (0.68, 0.99), leaves [0.8, 1.25]
    estimates = [tail.estimate_alpha_ci(x, method, level=level) for x in replicates]
    assert 0.8 < half_width_ratio(estimates, level) < 1.25
    if method != "hill":  # hill's bias (k = n^0.6) costs it coverage, not width
        coverage = np.mean([e.ci_low <= 1.5 <= e.ci_high for e in estimates])
        assert abs(coverage - level) < 0.07, coverage


def test_mohammadi_bootstrap_width_matches_the_spread_of_the_estimate(replicates):
    estimates = [tail.estimate_alpha_ci(x, ci="bootstrap", replicates=200, seed=i) for i, x in enumerate(replicates)]
    assert 0.8 < half_width_ratio(estimates, 0.95) < 1.25
    # a seeded bootstrap of the block terms, not the analytic interval
    again = tail.estimate_alpha_ci(replicates[0], ci="bootstrap", replicates=200, seed=1)
    assert estimates[0].ci_method == "bootstrap" and (again.ci_low, again.ci_high) != (estimates[0].ci_low, estimates[0].ci_high)


def test_median_over_a_k1_list_is_the_median_not_the_mean():
    x = sample_sas(1.3, 20_000, rng=np.random.default_rng(6))
    k1s = [2, 20, 500]
    for method in ("mohammadi", "mohammadi_order"):
        single = [tail.estimate_alpha(x, method, k1=k) for k in k1s]
        assert abs(np.mean(single) - np.median(single)) > 1e-3  # the two aggregations differ here
        assert tail.estimate_alpha(x, method, k1=k1s) == pytest.approx(np.median(single), rel=1e-12)
        # the interval is the median member's own interval
        median_k1 = k1s[int(np.argsort(single)[1])]
        listed, own = tail.estimate_alpha_ci(x, method, k1=k1s), tail.estimate_alpha_ci(x, method, k1=median_k1)
        assert (listed.ci_low, listed.ci_high) == pytest.approx((own.ci_low, own.ci_high), rel=1e-12)
        # per column, the same median
        matrix = np.stack([x, x[::-1]], axis=1)
        per_column = tail.alpha_per_column(matrix, method, k1=k1s)
        assert per_column[0] == pytest.approx(np.median(single), rel=1e-10)
    # an even-length list: the median member is the lower one (an actual member's interval)
    assert tail.median_member([3.0, 1.0, 4.0, 2.0]) == 3 and tail.median_member([2.0, 1.0]) == 1


def test_mcculloch_table_grid_and_smoothness():
    """The tabulated ν_α: α on the 0.05 grid from 0.5 to 2, log ν decreasing and smooth (third differences
    ≤ 0.0131; any entry off by 1 gives ≥ 0.035), each node inverted exactly."""
    table = _MCCULLOCH_TABLE
    np.testing.assert_allclose(table[:, 0], np.arange(0.5, 2.0001, 0.05), rtol=0, atol=1e-12)
    log_ratio = np.log(table[:, 1])
    assert np.all(np.diff(log_ratio) < 0) and np.abs(np.diff(log_ratio, 3)).max() < 0.02
    np.testing.assert_allclose(tail.mcculloch_alpha_from_ratio(table[:, 1]), table[:, 0], rtol=1e-12)


def test_smallest_inputs_and_option_bounds():
    assert tail.block_lengths(4) == [2] and tail.block_lengths(4, 2) == [2]
    for exponent in (0.0, 1.0):
        with pytest.raises(ValueError, match="exponent"):
            tail.hill(np.arange(1.0, 100.0), exponent=exponent)
    blocks = tail.mohammadi_order_statistics(np.arange(1.0, 101.0))[0]
    with pytest.raises(AttributeError):
        blocks.rank = 1  # frozen statistics


def test_mohammadi_bootstrap_with_blocks_shorter_than_k1_resamples_single_terms():
    x = sample_sas(1.5, 2000, rng=np.random.default_rng(7))
    k1 = 40
    terms = tail.mohammadi_block_terms(x, k1)
    low, high = tail.mohammadi_bootstrap_interval(terms, k1, 0.9, 50, 0, np.random.default_rng(2))  # group 0 → 1
    picks = np.random.default_rng(2).integers(0, terms.size, size=(50, terms.size))
    expected = tail.percentile_interval(terms[picks].mean(axis=1) / math.log(k1), 0.9)
    assert (low, high) == pytest.approx(expected, rel=1e-12)


def test_delta_method_intervals_are_centred_on_the_estimate(replicates):
    """mohammadi, hill and pickands/moment (on the γ = 1/α scale) put α̂ at the middle of the 1/α interval."""
    for method in ("mohammadi", "hill", "pickands", "moment"):
        e = tail.estimate_alpha_ci(replicates[0], method)
        assert (1 / e.ci_low + 1 / e.ci_high) / 2 == pytest.approx(1 / e.alpha, rel=1e-12), method


def test_per_column_minimum_samples_and_keep_policy():
    rng = np.random.default_rng(8)
    smallest_sizes = {"mohammadi": 4, "mohammadi_order": 4, "hill": 2, "pickands": 4, "moment": 3, "mcculloch": 4}
    assert set(smallest_sizes) == set(tail.METHODS)
    for method, smallest in smallest_sizes.items():
        assert tail.minimum_samples(method) == smallest
        matrix = np.zeros((20, 2))
        matrix[:smallest, 0] = rng.standard_cauchy(smallest)
        matrix[:smallest - 1, 1] = matrix[:smallest - 1, 0]
        per_column = tail.alpha_per_column(matrix, method)
        assert not np.isnan(per_column[0]) and np.isnan(per_column[1]), method  # the smallest size is accepted
        assert per_column[0] == pytest.approx(tail.estimate_alpha(matrix[:, 0], method), rel=1e-12)
    full = rng.standard_cauchy((50, 3))
    np.testing.assert_array_equal(tail.alpha_per_column(full, zeros="keep"), tail.alpha_per_column(full))
    full[0, 0] = 0.0
    with pytest.raises(ValueError, match="zeros='keep'"):
        tail.alpha_per_column(full, zeros="keep")


def test_gaussian_moment_null_by_hand():
    # n = 10: Var g1 = 6·8/(11·13), E b2 = 3·9/11, Var b2 = 24·10·8·7/(11²·13·15)
    assert tail.gaussian_moment_null(10) == pytest.approx((48 / 143, 27 / 11, 13440 / 23595), rel=1e-12)


def test_column_omnibus_leaves_out_short_and_constant_columns():
    from scipy import stats

    matrix = np.random.default_rng(9).standard_normal((30, 6))
    counts, m2, m3, m4 = (np.asarray(v, dtype=float) for v in tail.column_moments(matrix))
    reference = tail.column_omnibus(counts[:4], m2[:4], m3[:4], m4[:4])
    var_g1, mean_b2, var_b2 = tail.gaussian_moment_null(30)
    z_skew = stats.skew(matrix[:, :4]).sum() / math.sqrt(4 * var_g1)
    z_kurtosis = (stats.kurtosis(matrix[:, :4], fisher=False) - mean_b2).sum() / math.sqrt(4 * var_b2)
    assert reference[0] == pytest.approx(z_skew**2 + z_kurtosis**2, rel=1e-10)
    assert reference[1] == pytest.approx(math.exp(-reference[0] / 2), rel=1e-12)
    counts[4], m2[5] = 7, 0.0  # too few samples; no variance
    assert tail.column_omnibus(counts, m2, m3, m4) == pytest.approx(reference, rel=1e-12)
    assert reference[2] == 4
