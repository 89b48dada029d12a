"""sgnoise.sde.levy against scipy.stats.levy_stable, closed forms and the stable laws' own identities."""

import numpy as np
import pytest
from scipy import stats

from sgnoise.sde import (
    levy_motion_increments,
    levy_motion_paths,
    sample_isotropic_sas,
    sample_positive_stable,
    sample_sas,
)

ALPHAS = [0.5, 1.0, 1.3, 1.7, 2.0]
N_DRAWS = 100_000


def empirical_cf(x, u):
    """Real part of the empirical characteristic function (the imaginary part vanishes for symmetric laws)."""
    return float(np.mean(np.cos(u * x)))


@pytest.mark.parametrize("alpha", ALPHAS)
def test_sample_sas_matches_scipy_levy_stable(alpha):
    ours = sample_sas(alpha, N_DRAWS, rng=np.random.default_rng(11))
    reference = stats.levy_stable(alpha, 0.0).rvs(N_DRAWS, random_state=np.random.default_rng(12))
    assert stats.ks_2samp(ours, reference).pvalue > 0.01


@pytest.mark.parametrize("alpha", ALPHAS)
def test_sample_sas_characteristic_function(alpha):
    x = sample_sas(alpha, N_DRAWS, rng=np.random.default_rng(21))
    for u in (0.5, 1.0, 2.0):
        assert abs(empirical_cf(x, u) - np.exp(-abs(u) ** alpha)) < 0.01


@pytest.mark.parametrize("alpha", [0.8, 1.5])
def test_sample_sas_scale(alpha):
    scale = 2.5
    x = sample_sas(alpha, N_DRAWS, scale=scale, rng=np.random.default_rng(31))
    for u in (0.2, 0.4, 0.8):
        assert abs(empirical_cf(x, u) - np.exp(-abs(scale * u) ** alpha)) < 0.01


def test_alpha_two_is_gaussian_with_variance_two_scale_squared():
    x = sample_sas(2.0, N_DRAWS, scale=1.5, rng=np.random.default_rng(41))
    assert stats.kstest(x, stats.norm(scale=1.5 * np.sqrt(2.0)).cdf).pvalue > 0.01
    assert abs(x.var() / (2 * 1.5**2) - 1) < 0.02


def test_alpha_one_is_cauchy():
    x = sample_sas(1.0, N_DRAWS, scale=0.7, rng=np.random.default_rng(51))
    assert stats.kstest(x, stats.cauchy(scale=0.7).cdf).pvalue > 0.01


def test_alpha_near_one_is_continuous_with_cauchy():
    """CMS has a removable singularity at α = 1: values just beside it must match scipy too."""
    x = sample_sas(1.0 + 1e-9, N_DRAWS, rng=np.random.default_rng(52))
    assert np.all(np.isfinite(x))
    assert stats.kstest(x, stats.cauchy.cdf).pvalue > 0.01


def test_sample_sas_shape_and_reproducibility():
    a = sample_sas(1.5, (3, 4), rng=7)
    b = sample_sas(1.5, (3, 4), rng=np.random.default_rng(7))
    c = sample_sas(1.5, (3, 4), rng=8)
    assert a.shape == (3, 4) and a.dtype == np.float64
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert sample_sas(1.5, 0, rng=1).shape == (0,)


@pytest.mark.parametrize(
    "kwargs, error, named",
    [
        (dict(alpha=0.0, size=3), ValueError, "alpha"),
        (dict(alpha=2.5, size=3), ValueError, "alpha"),
        (dict(alpha="1.5", size=3), TypeError, "alpha"),
        (dict(alpha=True, size=3), TypeError, "alpha"),
        (dict(alpha=1.5, size=-1), ValueError, "size"),
        (dict(alpha=1.5, size=2.5), TypeError, "size"),
        (dict(alpha=1.5, size=3, scale=0.0), ValueError, "scale"),
        (dict(alpha=1.5, size=3, scale=np.inf), ValueError, "scale"),
        (dict(alpha=1.5, size=3, rng="seed"), TypeError, "rng"),
    ],
)
def test_sample_sas_rejects_bad_input(kwargs, error, named):
    with pytest.raises(error, match=named):
        sample_sas(**kwargs)


@pytest.mark.parametrize("exponent", [0.25, 0.5, 0.75, 0.9])
def test_positive_stable_laplace_transform(exponent):
    """Kanter's variable has E exp(−sA) = exp(−s^a); a = 1/2 is also the Lévy law 1/(2 Z²), Z ~ N(0, 1)."""
    a = sample_positive_stable(exponent, N_DRAWS, rng=np.random.default_rng(61))
    assert np.all(a > 0)
    for s in (0.5, 1.0, 2.0):
        assert abs(np.mean(np.exp(-s * a)) - np.exp(-(s**exponent))) < 0.005
    if exponent == 0.5:
        assert stats.kstest(a, stats.levy(scale=0.5).cdf).pvalue > 0.01
    np.testing.assert_array_equal(sample_positive_stable(1.0, 4, rng=1), np.ones(4))


@pytest.mark.parametrize("alpha, dim", [(1.5, 3), (0.9, 2), (2.0, 4)])
def test_isotropic_vectors_have_sas_projections(alpha, dim):
    """Every unit projection ⟨e, X⟩ of an isotropic vector with E e^{i⟨u,X⟩} = e^{−|u|^α} is SαS(α, 1)."""
    x = sample_isotropic_sas(alpha, N_DRAWS, dim, scale=1.0, rng=np.random.default_rng(71))
    assert x.shape == (N_DRAWS, dim)
    directions = [np.eye(dim)[0], np.ones(dim) / np.sqrt(dim)]
    reference = stats.levy_stable(alpha, 0.0).rvs(N_DRAWS, random_state=np.random.default_rng(72))
    for e in directions:
        projection = x @ e
        assert stats.ks_2samp(projection, reference).pvalue > 0.01
        for u in (0.5, 1.0, 2.0):
            assert abs(empirical_cf(projection, u) - np.exp(-(u**alpha))) < 0.01


def test_isotropic_vector_coordinates_are_dependent_for_alpha_below_two():
    """Isotropic stable coordinates share one mixing variable: big values come together (unlike iid SαS)."""
    x = sample_isotropic_sas(1.2, N_DRAWS, 2, rng=np.random.default_rng(81))
    big = np.abs(x) > 10
    both = np.mean(big[:, 0] & big[:, 1])
    assert both > 5 * np.mean(big[:, 0]) * np.mean(big[:, 1])


def test_levy_motion_paths_endpoint_law_and_shape():
    """Self-similarity: L_T ~ SαS(α, T^{1/α}), whatever the number of steps it is built from."""
    alpha, n_steps, dt = 1.4, 50, 0.08
    paths = levy_motion_paths(alpha, n_steps, dt, n_paths=20_000, scale=1.0, rng=np.random.default_rng(91))
    assert paths.shape == (20_000, n_steps + 1)
    np.testing.assert_array_equal(paths[:, 0], 0.0)
    horizon = n_steps * dt
    reference = stats.levy_stable(alpha, 0.0, scale=horizon ** (1 / alpha)).rvs(
        20_000, random_state=np.random.default_rng(93)
    )
    assert stats.ks_2samp(paths[:, -1], reference).pvalue > 0.01
    assert stats.ks_2samp(paths[:, -1], reference / horizon ** (1 / alpha)).pvalue < 1e-6  # the test can fail


def test_levy_motion_alpha_two_is_brownian_with_variance_two_t():
    paths = levy_motion_paths(2.0, 100, 0.01, n_paths=20_000, scale=0.5, rng=np.random.default_rng(92))
    variance = paths.var(axis=0)
    t = np.arange(101) * 0.01
    np.testing.assert_allclose(variance[[25, 50, 100]], 2 * 0.5**2 * t[[25, 50, 100]], rtol=0.04)
    increments = np.diff(paths, axis=1)
    assert abs(np.corrcoef(increments[:, 10], increments[:, 11])[0, 1]) < 0.03


def test_levy_motion_increments_reproducible_and_validated():
    a = levy_motion_increments(1.5, 10, 0.1, n_paths=3, rng=5)
    np.testing.assert_array_equal(a, levy_motion_increments(1.5, 10, 0.1, n_paths=3, rng=5))
    assert a.shape == (3, 10)
    with pytest.raises(ValueError, match="dt"):
        levy_motion_increments(1.5, 10, -0.1)
    with pytest.raises(ValueError, match="n_steps"):
        levy_motion_increments(1.5, 0, 0.1)
    with pytest.raises(TypeError, match="n_paths"):
        levy_motion_increments(1.5, 10, 0.1, n_paths=2.0)


def test_scale_defaults_shortcuts_and_argument_names():
    np.testing.assert_allclose(sample_sas(1.5, 50, scale=2.0, rng=1), 2.0 * sample_sas(1.5, 50, rng=1), rtol=1e-15)
    np.testing.assert_array_equal(sample_isotropic_sas(1.5, 4, 3, rng=2), sample_isotropic_sas(1.5, 4, 3, scale=1.0, rng=2))
    np.testing.assert_array_equal(levy_motion_paths(1.5, 5, 0.1, rng=3), levy_motion_paths(1.5, 5, 0.1, scale=1.0, rng=3))
    # α = 2: the mixing variable is exactly 1 and draws nothing, so the vectors are √2 · N(0, I) of the same seed
    np.testing.assert_allclose(sample_isotropic_sas(2.0, 6, 2, rng=4),
                               np.sqrt(2.0) * np.random.default_rng(4).standard_normal((6, 2)), rtol=1e-15)
    with pytest.raises(TypeError, match="scale must be a positive real"):
        sample_sas(1.5, 3, scale="2")
    with pytest.raises(ValueError, match="^exponent must"):
        sample_positive_stable(1.5, 3)
    with pytest.raises(ValueError, match="^dim must"):
        sample_isotropic_sas(1.5, 3, 0)
    with pytest.raises(ValueError, match="^scale must"):
        levy_motion_increments(1.5, 3, 0.1, scale=-1.0)


def test_deprecated_sgnoise_stable_shim_reexports_levy():
    import importlib
    import sys

    import sgnoise.sde.levy as levy

    sys.modules.pop("sgnoise.stable", None)
    with pytest.deprecated_call(match="sgnoise.sde"):
        stable = importlib.import_module("sgnoise.stable")
    assert stable.__all__ == levy.__all__
    for name in levy.__all__:
        assert getattr(stable, name) is getattr(levy, name)
    np.testing.assert_array_equal(stable.sample_sas(1.5, 20, rng=7), sample_sas(1.5, 20, rng=7))
