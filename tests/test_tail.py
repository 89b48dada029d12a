"""sgnoise.tail against independent references: scipy.stats.levy_stable samples and quantiles,
closed forms, brute-force loops, and scipy's normality tests."""

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from sgnoise import tail

ALPHAS = (0.8, 1.0, 1.2, 1.5, 1.8)
N = 10**6


@pytest.fixture(scope="module")
def samples():
    """10^6 SαS samples per α from scipy (independent of sgnoise's sampler), and Gaussian ones."""
    out = {alpha: stats.levy_stable.rvs(alpha, 0.0, size=N, random_state=np.random.default_rng(100 + i))
           for i, alpha in enumerate(ALPHAS)}
    out[2.0] = np.random.default_rng(99).standard_normal(N)
    return out


@pytest.fixture(scope="module")
def coverage_draws():
    """50 independent draws of 2·10^4 SαS(1.2) samples."""
    rng = np.random.default_rng(7)
    return [stats.levy_stable.rvs(1.2, 0.0, size=20_000, random_state=rng) for _ in range(50)]


# ----------------------------------------------------------------------------- accuracy (acceptance)


@pytest.mark.parametrize("alpha", (*ALPHAS, 2.0))
def test_mohammadi_within_005(samples, alpha):
    assert abs(tail.estimate_alpha(samples[alpha], "mohammadi") - alpha) < 0.05


@pytest.mark.parametrize("alpha", (0.8, 1.5, 2.0))
def test_mohammadi_median_over_k1_list_within_005(samples, alpha):
    assert abs(tail.estimate_alpha(samples[alpha], "mohammadi", k1=[10, 100, 1000]) - alpha) < 0.05


@pytest.mark.parametrize("alpha", (*ALPHAS, 2.0))
def test_mohammadi_order_within_008(samples, alpha):
    assert abs(tail.estimate_alpha(samples[alpha], "mohammadi_order") - alpha) < 0.08


@pytest.mark.parametrize("alpha", (0.8, 1.0, 1.2, 1.5))
def test_hill_within_01_up_to_15(samples, alpha):
    assert abs(tail.estimate_alpha(samples[alpha], "hill") - alpha) < 0.1


def test_hill_overestimates_near_two(samples):
    # the known upward bias of Hill on stable laws with α > 1.5, which the validation figure shows
    assert tail.estimate_alpha(samples[1.8], "hill", k=10_000) > 1.8 + 0.1


@pytest.mark.parametrize("alpha", (*ALPHAS, 2.0))
def test_mcculloch_within_01_on_1e5(samples, alpha):
    assert abs(tail.estimate_alpha(samples[alpha][:100_000], "mcculloch") - alpha) < 0.1


# ----------------------------------------------------------------------------- formulas against brute force


def test_reference_k1_is_largest_divisor_below_sqrt():
    for n in (4, 12, 97, 100, 1000, 20_000, 999_983):
        brute = max(d for d in range(1, n + 1) if n % d == 0 and d * d <= n)
        assert tail.reference_k1(n) == brute


def test_block_lengths_rules():
    assert tail.block_lengths(1_000_000) == [1000]
    assert tail.block_lengths(97) == [9]  # prime: ⌊√97⌋, trailing samples dropped
    assert tail.block_lengths(100, [1, 5, 60, 10]) == [5, 10]
    with pytest.raises(ValueError, match="k1"):
        tail.block_lengths(100, 51)
    with pytest.raises(ValueError, match="no k1"):
        tail.block_lengths(100, [60, 70])
    with pytest.raises(TypeError, match="k1"):
        tail.block_lengths(100, [2.5])
    with pytest.raises(ValueError, match="k1"):
        tail.block_lengths(100, "median")


def test_mohammadi_matches_loop():
    x = np.random.default_rng(0).standard_cauchy(1003)
    k1 = 17
    k2 = len(x) // k1
    y = [sum(x[i * k1 + j] for j in range(k1)) for i in range(k2)]
    inverse = (sum(math.log(abs(v)) for v in y) / k2 - sum(math.log(abs(v)) for v in x[: k1 * k2]) / (k1 * k2)) / math.log(k1)
    assert tail.mohammadi(x, k1=k1) == pytest.approx(1 / inverse, rel=1e-12)


def test_mohammadi_order_matches_sorting():
    x = np.random.default_rng(1).standard_cauchy(1000)
    k1, quantile = 20, 0.3
    k2 = 50
    y = np.sort(np.abs(x.reshape(k2, k1).sum(axis=1)))
    k = math.ceil(quantile * k2)
    xs = np.sort(np.abs(x))
    expected = math.log(k1) / (math.log(y[k - 1]) - math.log(xs[k1 * k - 1]))
    assert tail.mohammadi_order(x, k1=k1, quantile=quantile) == pytest.approx(expected, rel=1e-12)


def test_hill_matches_sorting_and_default_k():
    x = np.random.default_rng(2).standard_t(3, size=5000)
    magnitudes = np.sort(np.abs(x))[::-1]
    k = int(5000**0.6)
    expected = 1 / np.mean(np.log(magnitudes[:k] / magnitudes[k]))
    assert tail.hill(x) == pytest.approx(expected, rel=1e-12)
    assert tail.hill(x, k=50) == pytest.approx(1 / np.mean(np.log(magnitudes[:50] / magnitudes[50])), rel=1e-12)


def test_hill_on_exact_pareto():
    u = np.random.default_rng(3).random(200_000)
    assert tail.hill(u ** (-1 / 1.3)) == pytest.approx(1.3, abs=0.1)  # Pareto(1.3): sd α/√k = 0.033


def test_mcculloch_table_matches_scipy_quantiles():
    # closed forms: Cauchy ν = tan(.45π)/tan(.25π); Gaussian ν = Φ⁻¹(.95)/Φ⁻¹(.75)
    assert tail.mcculloch_alpha_from_ratio(math.tan(0.45 * math.pi)) == pytest.approx(1.0, abs=1e-6)
    assert tail.mcculloch_alpha_from_ratio(stats.norm.ppf(0.95) / stats.norm.ppf(0.75)) == pytest.approx(2.0, abs=1e-6)
    for alpha in (0.72, 1.33, 1.87):  # between grid points: interpolation error
        q75, q95 = stats.levy_stable.ppf([0.75, 0.95], alpha, 0.0)
        assert tail.mcculloch_alpha_from_ratio(q95 / q75) == pytest.approx(alpha, abs=2e-3)
    assert tail.mcculloch_alpha_from_ratio(1.5) == 2.0 and tail.mcculloch_alpha_from_ratio(1e3) == 0.5


def test_mcculloch_uses_inverted_cdf_quantiles():
    x = np.random.default_rng(4).standard_cauchy(999)
    q = np.quantile(x, [0.05, 0.25, 0.75, 0.95], method="inverted_cdf")
    assert tail.mcculloch(x) == pytest.approx(tail.mcculloch_alpha_from_ratio((q[3] - q[0]) / (q[2] - q[1])), rel=1e-12)


def test_negative_inverse_is_infinite_alpha():
    assert tail.alpha_from_inverse(-0.2) == math.inf
    assert tail.alpha_from_inverse(0.5) == 2.0
    assert np.isnan(tail.alpha_from_inverse(np.nan))


# ----------------------------------------------------------------------------- zeros and bad input


def test_zero_policy_excludes_without_log_of_zero():
    x = np.random.default_rng(5).standard_cauchy(10_000)
    with_zeros = np.insert(x, [0, 17, 500, 9000], 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a log(0) would warn
        for method in tail.METHODS:
            assert tail.estimate_alpha(with_zeros, method) == tail.estimate_alpha(x, method)
    with pytest.raises(ValueError, match="zeros"):
        tail.estimate_alpha(with_zeros, "hill", zeros="keep")


@pytest.mark.parametrize("call, error, match", [
    (lambda: tail.estimate_alpha(np.ones(100), "pareto"), ValueError, "unknown method"),
    (lambda: tail.estimate_alpha(np.ones(100), zeros="drop"), ValueError, "zeros policy"),
    (lambda: tail.estimate_alpha(np.array([1.0, np.nan, 2.0, 3.0, 4.0])), ValueError, "NaN"),
    (lambda: tail.estimate_alpha(np.array(["a", "b"])), TypeError, "numeric"),
    (lambda: tail.estimate_alpha(np.ones(3)), ValueError, "at least 4"),
    (lambda: tail.estimate_alpha(np.ones(100), "hill", k=0), ValueError, "positive int"),
    (lambda: tail.estimate_alpha(np.ones(100), "mohammadi_order", quantile=1.5), ValueError, "in \\(0, 1\\)"),
    (lambda: tail.estimate_alpha_ci(np.ones(100), ci="jackknife"), ValueError, "ci method"),
    (lambda: tail.estimate_alpha_ci(np.ones(100), ci="bootstrap", replicates=1), ValueError, "replicates"),
    (lambda: tail.estimate_alpha_ci(np.ones(100), block_size=0), ValueError, "block_size"),
    (lambda: tail.estimate_alpha_ci(np.ones(100), level=1.0), ValueError, "level"),
    (lambda: tail.alpha_per_column(np.ones(10), "hill"), ValueError, "2-D"),
    (lambda: tail.normality_test(np.arange(1.0, 6.0)), ValueError, "at least 8"),
])
def test_bad_input_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ----------------------------------------------------------------------------- confidence intervals


@pytest.mark.parametrize("method", tail.METHODS)
def test_analytic_intervals_cover(coverage_draws, method):
    hits = [tail.estimate_alpha_ci(x, method, ci="analytic") for x in coverage_draws]
    assert all(e.ci_low < e.alpha < e.ci_high for e in hits)
    assert np.mean([e.ci_low <= 1.2 <= e.ci_high for e in hits]) >= 0.9


def test_mohammadi_bootstrap_covers_in_90_percent_of_50_draws():
    rng = np.random.default_rng(8)
    hits = 0
    for seed in range(50):
        x = stats.levy_stable.rvs(1.5, 0.0, size=100_000, random_state=rng)
        estimate = tail.estimate_alpha_ci(x, "mohammadi", ci="bootstrap", replicates=200, seed=seed)
        assert estimate.ci_method == "bootstrap"
        hits += estimate.ci_low <= 1.5 <= estimate.ci_high
    assert hits >= 45


def test_generic_block_bootstrap_covers(coverage_draws):
    hits = 0
    for seed, x in enumerate(coverage_draws):
        estimate = tail.estimate_alpha_ci(x[:2000], "mcculloch", ci="bootstrap", replicates=100, block_size=50, seed=seed)
        hits += estimate.ci_low <= 1.2 <= estimate.ci_high
    assert hits >= 45


def test_bootstrap_is_seeded(coverage_draws):
    x = coverage_draws[0][:5000]
    first = tail.estimate_alpha_ci(x, "hill", ci="bootstrap", replicates=50, seed=3)
    assert first == tail.estimate_alpha_ci(x, "hill", ci="bootstrap", replicates=50, seed=3)
    assert first.ci_low != tail.estimate_alpha_ci(x, "hill", ci="bootstrap", replicates=50, seed=4).ci_low


def test_mohammadi_bootstrap_equals_raw_block_bootstrap_of_its_blocks():
    # resampling groups of block terms is the block bootstrap of raw K1-blocks with K1 fixed
    x = np.random.default_rng(9).standard_cauchy(400)
    k1 = 20
    terms = tail.mohammadi_block_terms(x, k1)
    rng_terms, rng_raw = np.random.default_rng(1), np.random.default_rng(1)
    low, high = tail.mohammadi_bootstrap_interval(terms, k1, 0.9, 30, 2, rng_terms)
    raw = tail.block_bootstrap_replicates(x, lambda r: 1 / tail.mohammadi(r, k1=k1), 2 * k1, 30, rng_raw)
    expected = tail.percentile_interval(raw, 0.9)
    assert (low, high) == pytest.approx(expected, rel=1e-10)


def test_bootstrap_block_larger_than_half_the_sample_is_clamped(coverage_draws):
    estimate = tail.estimate_alpha_ci(coverage_draws[0][:100], "hill", ci="bootstrap", replicates=20, block_size=10_000)
    assert estimate.ci_low <= estimate.ci_high


def test_interval_none_and_k1_list():
    x = np.random.default_rng(10).standard_cauchy(10_000)
    none = tail.estimate_alpha_ci(x, ci="none")
    assert np.isnan(none.ci_low) and none.ci_method == "none"
    listed = tail.estimate_alpha_ci(x, k1=[10, 50, 100])
    assert listed.ci_low < listed.alpha < listed.ci_high


# ----------------------------------------------------------------------------- per-coordinate estimates


@pytest.mark.parametrize("method", tail.METHODS)
def test_alpha_per_column_matches_columnwise_estimates(method):
    rng = np.random.default_rng(11)
    matrix = stats.levy_stable.rvs(1.3, 0.0, size=(60, 12), random_state=rng)
    matrix[rng.random(matrix.shape) < 0.2] = 0.0
    matrix[:, 0] = 0.0  # no samples: NaN
    matrix[2:, 1] = 0.0  # two samples: too few, NaN
    per_column = tail.alpha_per_column(matrix, method)
    assert np.isnan(per_column[:2]).all()
    for j in range(2, 12):
        assert per_column[j] == pytest.approx(tail.estimate_alpha(matrix[:, j], method), rel=1e-10)


# ----------------------------------------------------------------------------- Gaussianity


@pytest.mark.parametrize("size", (8, 25, 1000))
def test_dagostino_matches_scipy(size):
    x = np.random.default_rng(size).standard_t(4, size=size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns about the kurtosis test below n = 20
        reference = stats.normaltest(x)
    assert tail.normality_test(x) == pytest.approx((reference.statistic, reference.pvalue), rel=1e-9)


def test_jarque_bera_matches_scipy():
    x = np.random.default_rng(12).standard_t(5, size=3000)
    reference = stats.jarque_bera(x)
    assert tail.normality_test(x, "jarque_bera") == pytest.approx((reference.statistic, reference.pvalue), rel=1e-9)


def test_normality_per_column_matches_scipy_and_drops_zeros():
    rng = np.random.default_rng(13)
    matrix = rng.standard_normal((200, 6))
    matrix[:, 3] = rng.standard_cauchy(200)
    matrix[:50, 4] = 0.0
    statistic, pvalue = tail.normality_per_column(matrix)
    for j in range(6):
        column = matrix[:, j][matrix[:, j] != 0]
        reference = stats.normaltest(column)
        assert (statistic[j], pvalue[j]) == pytest.approx((reference.statistic, reference.pvalue), rel=1e-9)
    assert pvalue[3] < 1e-6
