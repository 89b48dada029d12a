"""sgnoise.sde against closed forms, an independent ODE solver and the Imkeller–Pavlyukevich small-noise
theory (issue 4 acceptance checks): potentials, theory and first exit of the Euler scheme. The discrete
recursion, sweeps, tables and figures: tests/test_sde_sweeps.py."""

import math
import tracemalloc

import numpy as np
import pytest
from scipy import integrate, stats

from sgnoise.sde import (
    ball_exit_rate,
    ball_exit_time_theory,
    first_exit_times,
    levy_exit_constant,
    mean_exit_time_diffusion,
    mean_exit_time_theory,
    periodic_well,
    quadratic_well,
    sample_isotropic_sas,
    sample_sas,
)

# --------------------------------------------------------------------------- potentials


def test_potentials_values_and_gradients_agree():
    x = np.linspace(-1.3, 1.3, 101)
    for potential in (quadratic_well(2.5), periodic_well(half_width=0.7, barrier_height=0.3)):
        numeric = np.gradient(potential.value(x), x)
        np.testing.assert_allclose(potential.gradient(x)[1:-1], numeric[1:-1], atol=2e-3)
    well = periodic_well(half_width=0.7, barrier_height=0.3)
    np.testing.assert_allclose(well.value(np.array([0.0, 0.7, -0.7, 1.4])), [0.0, 0.3, 0.3, 0.0], atol=1e-12)
    np.testing.assert_allclose(quadratic_well(2.5).value(np.array([2.0])), [5.0])
    with pytest.raises(ValueError, match="curvature"):
        quadratic_well(-1.0)
    with pytest.raises(ValueError, match="barrier_height"):
        periodic_well(1.0, 0.0)


# --------------------------------------------------------------------------- theory


def test_levy_exit_constant_is_the_tail_of_the_sas_density():
    """scipy's SαS density behaves like c_α |x|^{−1−α} far out; α = 1 is Cauchy (1/π), α = 2 has no jumps."""
    assert levy_exit_constant(1.0) == pytest.approx(1 / math.pi)
    assert levy_exit_constant(2.0) == pytest.approx(0.0, abs=1e-15)
    for alpha in (1.2, 1.5, 1.8):
        x = 300.0
        tail = stats.levy_stable.pdf(x, alpha, 0.0) * x ** (1 + alpha)
        assert tail == pytest.approx(levy_exit_constant(alpha), rel=0.01)


def test_mean_exit_time_theory_closed_form_and_scalings():
    # α = 1: c_1 = 1/π, so E τ = π / (ε (1/a + 1/b)).
    assert mean_exit_time_theory(1.0, 0.1, -2.0, 1.0) == pytest.approx(math.pi / (0.1 * 1.5))
    # ε^−α scaling, width^α scaling, and no dependence on anything else.
    t = mean_exit_time_theory(1.5, 0.05, -1.0, 1.0)
    assert mean_exit_time_theory(1.5, 0.1, -1.0, 1.0) == pytest.approx(t * 2**-1.5)
    assert mean_exit_time_theory(1.5, 0.05, -2.0, 2.0) == pytest.approx(t * 2**1.5)
    assert t == pytest.approx(224.2, rel=1e-3)  # docs/science.md §5
    assert mean_exit_time_theory(1.2, 0.05, -1.0, 1.0) == pytest.approx(65.5, rel=1e-3)
    # One-sided basin: only the reachable side counts.
    assert mean_exit_time_theory(1.5, 0.05, -np.inf, 1.0) == pytest.approx(2 * t)
    with pytest.raises(ValueError, match="mean_exit_time_diffusion"):
        mean_exit_time_theory(2.0, 0.1, -1.0, 1.0)
    with pytest.raises(ValueError, match="lower < 0 < upper"):
        mean_exit_time_theory(1.5, 0.1, 0.5, 1.0)
    with pytest.raises(ValueError, match="eps"):
        mean_exit_time_theory(1.5, 0.0, -1.0, 1.0)


def ode_mean_exit_time(eps, gradient, lower, upper, x0):
    """Independent reference: solve ε² T'' − U' T' = −1, T = 0 at both ends, with scipy's BVP solver."""

    def rhs(x, y):
        return np.vstack([y[1], (gradient(x) * y[1] - 1.0) / eps**2])

    def bc(ya, yb):
        return np.array([ya[0], yb[0]])

    x = np.linspace(lower, upper, 2001)
    solution = integrate.solve_bvp(rhs, bc, x, np.zeros((2, x.size)), tol=1e-8, max_nodes=200_000)
    assert solution.success
    return float(solution.sol(x0)[0])


def test_mean_exit_time_diffusion_free_brownian_closed_form():
    """U = 0: T(x) = (x − l)(u − x) / (2ε²)."""
    flat = lambda x: np.zeros_like(x)  # noqa: E731
    for x0 in (0.0, 0.3, -0.8):
        exact = (x0 + 1.0) * (2.0 - x0) / (2 * 0.7**2)
        assert mean_exit_time_diffusion(0.7, potential=flat, lower=-1.0, upper=2.0, x0=x0) == pytest.approx(
            exact, rel=1e-6
        )


@pytest.mark.parametrize(
    "eps, potential, lower, upper, x0",
    [
        (0.5, quadratic_well(1.0), -1.0, 1.0, 0.0),
        (0.4, quadratic_well(1.0), -1.0, 1.0, 0.0),
        (0.5, quadratic_well(2.0), -1.0, 1.0, 0.0),
        (0.3, quadratic_well(3.0), -0.5, 1.5, 0.2),
        (0.25, periodic_well(1.0, 0.2), -1.0, 1.0, 0.0),
    ],
)
def test_mean_exit_time_diffusion_matches_ode_solver(eps, potential, lower, upper, x0):
    ours = mean_exit_time_diffusion(eps, potential=potential.value, lower=lower, upper=upper, x0=x0)
    reference = ode_mean_exit_time(eps, potential.gradient, lower, upper, x0)
    assert ours == pytest.approx(reference, rel=1e-4)


def test_mean_exit_time_diffusion_rejects_bad_input():
    well = quadratic_well(1.0).value
    with pytest.raises(ValueError, match="lower < x0 < upper"):
        mean_exit_time_diffusion(0.5, potential=well, lower=-1.0, upper=1.0, x0=1.5)
    with pytest.raises(ValueError, match="lower < x0 < upper"):
        mean_exit_time_diffusion(0.5, potential=well, lower=-np.inf, upper=1.0)
    with pytest.raises(TypeError, match="potential"):
        mean_exit_time_diffusion(0.5, potential=3.0, lower=-1.0, upper=1.0)


def test_ball_exit_rate_one_dimension_and_sampler_tails():
    """ν(|y| ≥ r) equals 2c_α/α in 1-D, and is the far tail P(|ζ| ≥ R)·R^α of the samplers' vectors."""
    for noise in ("isotropic", "coordinatewise"):
        assert ball_exit_rate(1.3, 2.0, 1, noise) == pytest.approx(2 * levy_exit_constant(1.3) / 1.3 * 2**-1.3)
    assert ball_exit_rate(1.5, 1.0, 4, "coordinatewise") == pytest.approx(4 * ball_exit_rate(1.5, 1.0, 1))
    rng = np.random.default_rng(5)
    radius, alpha = 50.0, 1.5
    for dim in (2, 3):
        iso = np.linalg.norm(sample_isotropic_sas(alpha, 10**6, dim, rng=rng), axis=1)
        assert np.mean(iso >= radius) == pytest.approx(ball_exit_rate(alpha, radius, dim, "isotropic"), rel=0.06)
        coord = np.linalg.norm(sample_sas(alpha, (10**6, dim), rng=rng), axis=1)
        assert np.mean(coord >= radius) == pytest.approx(
            ball_exit_rate(alpha, radius, dim, "coordinatewise"), rel=0.06
        )
    assert ball_exit_time_theory(1.5, 0.2, 1.0, 3) == pytest.approx(1 / (0.2**1.5 * ball_exit_rate(1.5, 1.0, 3)))
    with pytest.raises(ValueError, match="noise"):
        ball_exit_rate(1.5, 1.0, 2, "diagonal")
    with pytest.raises(ValueError, match="alpha = 2"):
        ball_exit_rate(2.0, 1.0, 2)


# --------------------------------------------------------------------------- first exit, α < 2 (acceptance)


@pytest.fixture(scope="module")
def quadratic_well_exits():
    """2 000 paths from (−1, 1), dt = 0.01, k ∈ {1, 4}, (α, ε) ∈ {(1.5, 0.05), (1.2, 0.05)}.

    Both depths use the same seed (common random numbers), so their ratio is sharper than two
    independent 2 % standard errors would make it.
    """
    times = {}
    for alpha in (1.5, 1.2):
        for k in (1.0, 4.0):
            times[alpha, k] = first_exit_times(
                alpha, 0.05, grad_potential=quadratic_well(k).gradient, lower=-1.0, upper=1.0,
                dt=0.01, n_paths=2000, rng=np.random.default_rng(0),
            )
    return times


@pytest.mark.parametrize("alpha", [1.5, 1.2])
def test_mean_exit_time_matches_imkeller_pavlyukevich(quadratic_well_exits, alpha):
    theory = mean_exit_time_theory(alpha, 0.05, -1.0, 1.0)
    for k in (1.0, 4.0):
        times = quadratic_well_exits[alpha, k]
        assert np.all(np.isfinite(times)) and times.size == 2000
        assert abs(times.mean() / theory - 1) < 0.07


@pytest.mark.parametrize("alpha", [1.5, 1.2])
def test_mean_exit_time_does_not_depend_on_depth(quadratic_well_exits, alpha):
    shallow, deep = quadratic_well_exits[alpha, 1.0].mean(), quadratic_well_exits[alpha, 4.0].mean()
    assert abs(deep / shallow - 1) < 0.07


@pytest.mark.parametrize("alpha", [1.5, 1.2])
def test_scaled_exit_time_is_exponential(quadratic_well_exits, alpha):
    """ε^α c_α (a^−α + b^−α) τ / α → Exp(1) (Imkeller & Pavlyukevich 2006)."""
    scaled = quadratic_well_exits[alpha, 1.0] / mean_exit_time_theory(alpha, 0.05, -1.0, 1.0)
    assert stats.kstest(scaled, stats.expon.cdf).pvalue > 0.01
    assert stats.kstest(scaled, stats.expon(scale=1.15).cdf).pvalue < 0.01  # power to see a 15 % error


# --------------------------------------------------------------------------- first exit, α = 2


@pytest.mark.parametrize("eps, k", [(0.5, 1.0), (0.4, 1.0), (0.5, 2.0)])
def test_brownian_exit_time_matches_exact_quadrature(eps, k):
    """With the Brownian-bridge correction, within 6 % of the exact mean (the rest is Euler's O(dt) drift bias)."""
    well = quadratic_well(k)
    exact = mean_exit_time_diffusion(eps, potential=well.value, lower=-1.0, upper=1.0)
    times = first_exit_times(2.0, eps, grad_potential=well.gradient, lower=-1.0, upper=1.0, dt=0.01,
                             n_paths=10_000, rng=np.random.default_rng(7))
    assert abs(times.mean() / exact - 1) < 0.06


@pytest.mark.parametrize("eps, k", [(0.5, 1.0), (0.5, 2.0)])
def test_brownian_exit_without_bridge_correction_overestimates(eps, k):
    """Plain discrete monitoring misses crossings between grid times: the check above can fail."""
    well = quadratic_well(k)
    exact = mean_exit_time_diffusion(eps, potential=well.value, lower=-1.0, upper=1.0)
    times = first_exit_times(2.0, eps, grad_potential=well.gradient, lower=-1.0, upper=1.0, dt=0.01,
                             n_paths=2000, rng=np.random.default_rng(8), bridge_correction=False)
    assert times.mean() / exact - 1 > 0.12


def test_free_brownian_exit_time_closed_form():
    """U = 0, α = 2: E τ = (x0 − l)(u − x0)/(2ε²), here 0.5 time units = 50 steps of dt = 0.01 from x0 = 0
    and 0.375 from the starting point x0 = 0.5 (the option has its effect)."""
    for x0, expected in ((0.0, 0.5), (0.5, 0.375)):
        times = first_exit_times(2.0, 1.0, grad_potential=np.zeros_like, lower=-1.0, upper=1.0, x0=x0, dt=0.01,
                                 n_paths=8000, rng=np.random.default_rng(9))
        assert times.mean() == pytest.approx(expected, rel=0.03)


# --------------------------------------------------------------------------- first exit, mechanics


def test_first_exit_times_reproducible_and_seed_dependent():
    kwargs = dict(grad_potential=quadratic_well(1.0).gradient, lower=-1.0, upper=1.0, n_paths=200)
    a = first_exit_times(1.5, 0.3, rng=3, **kwargs)
    b = first_exit_times(1.5, 0.3, rng=np.random.default_rng(3), **kwargs)
    c = first_exit_times(1.5, 0.3, rng=4, **kwargs)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.all(a > 0) and np.allclose(a / 0.01, np.round(a / 0.01))


def test_first_exit_times_censors_at_max_time():
    times = first_exit_times(1.8, 1e-4, grad_potential=quadratic_well(1.0).gradient, lower=-1.0, upper=1.0,
                             n_paths=50, max_time=2.0, rng=1)
    assert times.shape == (50,) and np.all(np.isinf(times))


def test_first_exit_times_memory_does_not_grow_with_steps():
    kwargs = dict(grad_potential=quadratic_well(1.0).gradient, lower=-1.0, upper=1.0, n_paths=300, rng=2)
    peaks = []
    for max_time in (20.0, 200.0):  # 2 000 and 20 000 steps, no exits
        tracemalloc.start()
        times = first_exit_times(1.9, 1e-5, max_time=max_time, **kwargs)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert np.all(np.isinf(times))
    assert peaks[1] < 1.3 * peaks[0]
    assert peaks[1] < 20 * 2**20  # far below 300 paths × 20 000 steps × 8 bytes = 48 MB


def test_first_exit_times_one_sided_basin():
    """upper = +inf: only the lower boundary stops a path; with drift pushing down everything exits there."""
    times = first_exit_times(1.5, 0.1, grad_potential=lambda x: np.ones_like(x), lower=-1.0, upper=np.inf,
                             n_paths=300, rng=5)
    assert np.all(np.isfinite(times)) and times.mean() < 1.1


@pytest.mark.parametrize(
    "kwargs, error, named",
    [
        (dict(x0=1.5), ValueError, "x0"),
        (dict(lower=1.0, upper=-1.0), ValueError, "lower"),
        (dict(eps=0.0), ValueError, "eps"),
        (dict(dt=-0.01), ValueError, "dt"),
        (dict(n_paths=0), ValueError, "n_paths"),
        (dict(max_time=-1.0), ValueError, "max_time"),
        (dict(alpha=2.2), ValueError, "alpha"),
        (dict(bridge_correction=True), ValueError, "bridge_correction"),
        (dict(bridge_correction="yes"), TypeError, "bridge_correction"),
        (dict(grad_potential=2.0), TypeError, "grad_potential"),
        (dict(grad_potential=lambda x: np.zeros(2)), ValueError, "grad_potential"),
        (dict(lower=-np.inf, upper=np.inf), ValueError, "max_time"),
        (dict(rng="x"), TypeError, "rng"),
    ],
)
def test_first_exit_times_rejects_bad_input(kwargs, error, named):
    arguments = dict(alpha=1.5, eps=0.1, grad_potential=quadratic_well(1.0).gradient, lower=-1.0, upper=1.0,
                     n_paths=10)
    arguments.update(kwargs)
    with pytest.raises(error, match=named):
        first_exit_times(arguments.pop("alpha"), arguments.pop("eps"), **arguments)
