"""The upper-order-statistic estimators (Hill, Pickands, moment) against independent references:
brute-force ports (plain Python loops over sorted values), exact Pareto samples (α known, the
estimators unbiased there at any k), scipy.stats.levy_stable samples, and the per-column and
streamed paths equal to the 1-D one."""

import math

import numpy as np
import pytest
from scipy import stats

from sgnoise import tail
from sgnoise.tail import streaming

EXTREME_METHODS = ("hill", "pickands", "moment")


def _descending_magnitudes(x):
    return sorted((abs(float(v)) for v in x), reverse=True)


def brute_pickands(x, k):
    """γ̂ = log((X_(n−k+1) − X_(n−2k+1)) / (X_(n−2k+1) − X_(n−4k+1))) / log 2, increasing order statistics."""
    ascending = sorted(abs(float(v)) for v in x)
    n = len(ascending)
    at = lambda rank: ascending[rank - 1]  # noqa: E731  X_(rank), 1-based, increasing
    gamma = math.log((at(n - k + 1) - at(n - 2 * k + 1)) / (at(n - 2 * k + 1) - at(n - 4 * k + 1))) / math.log(2)
    return gamma


def brute_moment(x, k):
    """M_j = (1/k) Σ_{i=1..k} (log X_(n−i+1) − log X_(n−k))^j, γ̂ = M1 + 1 − ½ (1 − M1²/M2)⁻¹."""
    ascending = sorted(abs(float(v)) for v in x)
    n = len(ascending)
    m1 = m2 = 0.0
    for i in range(1, k + 1):
        d = math.log(ascending[n - i]) - math.log(ascending[n - k - 1])
        m1 += d
        m2 += d * d
    m1, m2 = m1 / k, m2 / k
    return m1 + 1 - 0.5 / (1 - m1 * m1 / m2)


def brute_hill(x, k):
    top = _descending_magnitudes(x)
    return sum(math.log(top[i] / top[k]) for i in range(k)) / k


def alpha_of(gamma):
    """The convention: α̂ = 1/γ̂, +inf for γ̂ ≤ 0."""
    return 1 / gamma if gamma > 0 else math.inf


def pareto(alpha, n, seed):
    """|X| ~ Pareto(α) exactly (P(|X| > x) = x^−α, x ≥ 1), with random signs."""
    rng = np.random.default_rng(seed)
    return rng.random(n) ** (-1 / alpha) * rng.choice([-1.0, 1.0], n)


# ----------------------------------------------------------------------------- formulas against brute force


@pytest.mark.parametrize("k", (1, 7, 50, 249))
def test_pickands_matches_loop(k):
    x = np.random.default_rng(1).standard_t(2, size=1000)
    assert tail.pickands(x, k=k) == pytest.approx(alpha_of(brute_pickands(x, k)), rel=1e-12)


@pytest.mark.parametrize("k", (2, 10, 300, 999))
def test_moment_matches_loop(k):
    x = np.random.default_rng(2).standard_cauchy(1000)
    assert tail.moment(x, k=k) == pytest.approx(alpha_of(brute_moment(x, k)), rel=1e-12)


def test_default_k_of_each_estimator():
    n = 5000
    x = np.random.default_rng(3).standard_cauchy(n)
    hill_k = math.floor(n**0.6)  # 165
    assert tail.hill(x) == pytest.approx(1 / brute_hill(x, hill_k), rel=1e-12)
    assert tail.moment(x) == pytest.approx(1 / brute_moment(x, hill_k), rel=1e-12)
    assert tail.pickands(x) == pytest.approx(1 / brute_pickands(x, hill_k // 4), rel=1e-12)  # 4k = n^0.6
    assert tail.top_count("pickands", n) == 4 * (hill_k // 4) and tail.top_count("moment", n) == hill_k + 1
    # k is clipped so that the order statistics exist: 4k ≤ n for Pickands, k ≤ n − 1 for the moment
    assert tail.pickands_k(100, k=1000) == 25 and tail.moment_k(100, k=1000) == 99


def test_invariances():
    x = np.random.default_rng(4).standard_cauchy(20_000)
    assert tail.pickands(3.7 * x) == pytest.approx(tail.pickands(x), rel=1e-9)
    assert tail.pickands(np.abs(x) + 5.0) == pytest.approx(tail.pickands(x), rel=1e-6)  # location invariant
    assert tail.moment(3.7 * x) == pytest.approx(tail.moment(x), rel=1e-9)


# ----------------------------------------------------------------------------- known α


@pytest.mark.parametrize("method, k, tolerance", [
    ("hill", 20_000, 0.03),      # sd α/√k = 0.011
    ("moment", 50_000, 0.03),    # sd α²√((1+γ²)/k) = 0.012
    ("pickands", 20_000, 0.06),  # sd α²√(var_P(γ)/k) = 0.032
])
def test_exact_pareto_15(method, k, tolerance):
    x = pareto(1.5, 100_000, seed=5)
    assert abs(tail.estimate_alpha(x, method, k=k) - 1.5) < tolerance * 1.5


@pytest.mark.parametrize("method", EXTREME_METHODS)
def test_exact_pareto_default_k_within_three_sd(method):
    x = pareto(1.5, 100_000, seed=6)
    estimate = tail.estimate_alpha_ci(x, method)
    gamma, n = 1 / 1.5, x.size
    variance = {"hill": gamma**2, "moment": tail.moment_variance(gamma), "pickands": tail.pickands_variance(gamma)}[method]
    k = tail.top_count(method, n) // (4 if method == "pickands" else 1) - (0 if method == "pickands" else 1)
    sd_alpha = 1.5**2 * math.sqrt(variance / k)
    assert abs(estimate.alpha - 1.5) < 3 * sd_alpha
    assert estimate.ci_low < estimate.alpha < estimate.ci_high


def test_asymptotic_variances():
    # Dekkers & de Haan (1989): Pickands' variance at γ = 1 is 1·(8 + 1)/(2·1·log 2)² = 9/(4 log² 2)
    assert tail.pickands_variance(1.0) == pytest.approx(9 / (4 * math.log(2) ** 2))
    assert tail.pickands_variance(0.0) == pytest.approx(tail.pickands_variance(1e-7), rel=1e-5)  # continuous at 0
    assert tail.moment_variance(0.5) == 1.25
    assert tail.moment_variance(-1e-9) == pytest.approx(1.0, rel=1e-6)
    # γ = −1/2: (3/2)²·2·(1 + 1/2 + 6/4) / ((5/2)·3) = 1.8
    assert tail.moment_variance(-0.5) == pytest.approx(1.8, rel=1e-12)


@pytest.mark.parametrize("method", ("pickands", "moment"))
def test_intervals_cover_on_exact_pareto(method):
    hits = 0
    for seed in range(40):
        e = tail.estimate_alpha_ci(pareto(1.5, 20_000, seed=100 + seed), method)
        hits += e.ci_low <= 1.5 <= e.ci_high
    assert hits >= 35  # nominal 0.95: at least 0.875 of 40


@pytest.fixture(scope="module")
def stable_samples():
    return {alpha: stats.levy_stable.rvs(alpha, 0.0, size=10**6, random_state=np.random.default_rng(200 + i))
            for i, alpha in enumerate((1.2, 1.5))}


@pytest.mark.parametrize("alpha", (1.2, 1.5))
def test_moment_on_stable_within_005(stable_samples, alpha):
    # measured bias on 10^6 SαS: 0.000 (α = 1.2), +0.001 (1.5), +0.011 (1.8); RMSE 0.015, 0.028, 0.013
    assert abs(tail.moment(stable_samples[alpha]) - alpha) < 0.05 * alpha


@pytest.mark.parametrize("alpha", (1.2, 1.5))
def test_pickands_on_stable_within_its_interval(stable_samples, alpha):
    # Pickands is nearly unbiased at k = n^0.6/4 but noisy (measured RMSE 0.07 at α = 1.2, 0.16 at 1.5)
    estimate = tail.estimate_alpha_ci(stable_samples[alpha], "pickands")
    assert estimate.ci_low <= alpha <= estimate.ci_high
    assert abs(estimate.alpha - alpha) < 0.35


# ----------------------------------------------------------------------------- outside (0, 2]


def test_light_tails_give_infinite_alpha_not_clipped():
    u = np.random.default_rng(7).random(100_000)  # uniform: bounded, extreme-value index γ = −1
    assert tail.pickands(u) == math.inf and tail.moment(u) == math.inf
    assert tail.pickands_gamma(tail.pickands_statistics(u)) == pytest.approx(-1, abs=0.3)
    assert tail.moment_gamma(tail.moment_statistics(u)) == pytest.approx(-1, abs=0.2)
    e = tail.estimate_alpha_ci(u, "moment")
    assert e.alpha == math.inf and e.ci_high == math.inf
    gaussian = np.random.default_rng(8).standard_normal(100_000)
    assert tail.hill(gaussian) > 2  # reported as computed, not clipped to the stable range


def test_ties_give_nan():
    x = np.ones(100)
    assert np.isnan(tail.pickands(x)) and np.isnan(tail.moment(x))
    assert np.isnan(tail.estimate_alpha_ci(x, "pickands").ci_low)


# ----------------------------------------------------------------------------- per column and streamed


@pytest.mark.parametrize("method", EXTREME_METHODS)
@pytest.mark.parametrize("options", ({}, {"k": 5}, {"exponent": 0.8}))
def test_per_column_equals_1d(method, options):
    rng = np.random.default_rng(9)
    matrix = stats.levy_stable.rvs(1.3, 0.0, size=(300, 9), random_state=rng)
    matrix[rng.random(matrix.shape) < 0.3] = 0.0
    matrix[3:, 0] = 0.0  # 3 samples: moment yes (k = 2), pickands no (4k ≤ n)
    per_column = tail.alpha_per_column(matrix, method, **options)
    for j in range(9):
        column = matrix[:, j][matrix[:, j] != 0]
        if column.size < tail.minimum_samples(method):
            assert np.isnan(per_column[j])
        else:
            assert per_column[j] == pytest.approx(tail.estimate_alpha(column, method, **options), rel=1e-12)


def test_streamed_equals_in_memory():
    rng = np.random.default_rng(10)
    matrix = (stats.levy_stable.rvs(1.4, 0.0, size=(60, 500), random_state=rng) * np.exp(rng.standard_normal(500)))
    matrix[rng.random(matrix.shape) < 0.1] = 0.0
    options = dict(methods=EXTREME_METHODS, views=("pooled_stored", "pooled_normalised", "per_layer"),
                   column_layer=np.repeat([0, 1], 250), layer_names=["a", "b"])
    in_memory = tail.alpha_views(matrix, **options)
    streamed = tail.alpha_views(matrix, memory_budget_mb=0.05, **options)
    assert streaming.max_block_entries(0.05) < matrix.size  # really streamed
    np.testing.assert_array_equal(streamed["alpha"], in_memory["alpha"])
    np.testing.assert_allclose(streamed[["ci_low", "ci_high"]], in_memory[["ci_low", "ci_high"]], rtol=1e-12)
    stored = in_memory[in_memory["view"] == "pooled_stored"].set_index("method")["alpha"]
    sample = matrix.reshape(-1)
    for method in EXTREME_METHODS:
        assert stored[method] == tail.estimate_alpha(sample, method)
