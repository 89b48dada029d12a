"""sgnoise.iterates (issue 17: the tail index of SGD iterates) against independent references: a brute-force
simulation of the 1-D recursion, explicit random-matrix products for the moment-Lyapunov function,
scipy quadrature of the 1-D Kesten moment, the closed-form second moment: the theory and the linear study.
The networks, figures, config checks and rules: tests/test_iterates_network.py."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import integrate, stats

from sgnoise import iterates as it

torch.set_num_threads(1)


def brute_force_1d(eta, b, n, steps, seed):
    """The 1-D recursion x ← x − (η/b) Σ a_i (a_i x − ε_i) written out, numpy, independent of the library."""
    rng = np.random.default_rng(seed)
    x = np.zeros(n)
    for _ in range(steps):
        a = rng.standard_normal((b, n))
        noise = rng.standard_normal((b, n))
        x = x - (eta / b) * np.sum(a * (a * x - noise), axis=0)
    return x


# --------------------------------------------------------------------------- theory


@pytest.mark.parametrize("eta,b", [(1.0, 1), (1.5, 2)])
def test_one_dimensional_root_matches_brute_force_simulation(eta, b):
    """10⁶ stationary samples of the recursion (10⁶ chains, 40 steps ≈ 17 mixing times from x = 0):
    every estimator within 0.1 of the Kesten–Goldie root (α = 1.09 and 0.92)."""
    theory = it.theory_alpha(eta, b, 1)
    assert theory.alpha < 2 and theory.low <= theory.alpha <= theory.high and theory.high - theory.low < 1e-6
    x = brute_force_1d(eta, b, 10**6, 40, seed=1)
    from sgnoise.tail import estimate_alpha

    for method in ("mohammadi", "hill", "mcculloch"):
        assert abs(estimate_alpha(x, method) - theory.alpha) < 0.1, method


def test_one_dimensional_log_moment_against_scipy_quadrature():
    """h(s) = log E|1 − (η/b) Q|^s, Q ~ χ²_b, by scipy.integrate.quad over the χ² density (split at the kink)."""
    for eta, b, s in [(1.0, 1, 0.3), (1.0, 1, 1.7), (1.5, 2, 1.0), (0.8, 5, 3.0), (2.0, 1, 0.1)]:
        c = eta / b

        def integrand(q):
            return abs(1 - c * q) ** s * stats.chi2.pdf(q, b)

        left = integrate.quad(integrand, 0, 1 / c, limit=400)[0]
        right = integrate.quad(integrand, 1 / c, np.inf, limit=400)[0]
        value, error = it.log_moment(s, eta, b, 1)
        assert value == pytest.approx(math.log(left + right), abs=1e-7)
        assert error < 1e-6


def test_log_moment_equals_brute_force_matrix_products():
    """The reduction h(s) = log E‖M e₁‖^s with ‖M e₁‖² = (1 − cQ)² + c²QW against the definition: explicit
    d × d matrices M_j = I − (η/b) Σ a a ᵀ multiplied k times onto a unit vector (k = 1 and 3, d = 10)."""
    eta, b, d = 0.3, 2, 10
    s = np.array([0.5, 1.0, 2.5, 4.0])
    exact = it.log_moment(s, eta, b, d)[0]
    for k, u in [(1, None), (3, np.ones(d))]:
        brute, se = it.moment_lyapunov_products(s, eta, b, d, k, 200_000, rng=5, u=u)
        assert np.all(np.abs(brute - exact) < 4 * se + 1e-4), (k, brute, exact, se)


def test_alpha_is_two_at_the_closed_form_step():
    """E‖M e₁‖² = 1 − 2η + (η/b)η(b + d + 1): α = 2 exactly at η₂ = 2b/(b + d + 1), for every b and d; and
    that second moment against explicit random matrices."""
    for b, d in [(1, 1), (5, 1), (2, 10), (5, 100), (1, 100)]:
        eta = it.step_for_alpha_two(b, d)
        assert it.second_moment_factor(eta, b, d) == pytest.approx(1.0)
        theory = it.theory_alpha(eta, b, d)
        assert theory.alpha == pytest.approx(2.0, abs=1e-6) and theory.low <= 2.0 <= theory.high
    rng = np.random.default_rng(0)
    eta, b, d = 0.2, 3, 6
    a = rng.standard_normal((200_000, b, d))
    m_e1 = np.eye(d)[0] - (eta / b) * np.einsum("nbi,nb->ni", a, a[:, :, 0])
    squares = (m_e1**2).sum(axis=1)
    assert squares.mean() == pytest.approx(it.second_moment_factor(eta, b, d), abs=4 * squares.std() / math.sqrt(squares.size))


def test_alpha_decreases_in_eta_and_increases_in_b():
    for d in (1, 10):
        for b in (1, 2, 5):
            eta2 = it.step_for_alpha_two(b, d)
            alphas = [it.theory_alpha(f * eta2, b, d).alpha for f in (0.9, 0.97, 1.0, 1.02, 1.04)]
            assert all(x > y for x, y in zip(alphas, alphas[1:])), (d, b, alphas)
        eta = 0.98 * it.step_for_alpha_two(1, d)  # stationary for every b below
        by_b = [it.theory_alpha(eta, b, d).alpha for b in (1, 2, 5, 10)]
        assert all(x < y for x, y in zip(by_b, by_b[1:])), (d, by_b)


def test_monte_carlo_theory_agrees_with_quadrature():
    for eta, b, d in [(1.0, 1, 1), (0.3, 2, 10), (0.65, 5, 10)]:
        exact = it.theory_alpha(eta, b, d)
        mc = it.theory_alpha_mc(eta, b, d, n_samples=400_000, seed=3)
        assert mc.low < exact.alpha < mc.high, (eta, b, d, exact, mc)
        assert mc.high - mc.low < 0.2
        assert mc.drift == pytest.approx(exact.drift, abs=0.01)
    assert it.theory_alpha_mc(0.3, 2, 10, n_samples=10_000, seed=3) == it.theory_alpha_mc(0.3, 2, 10, n_samples=10_000, seed=3)


def test_no_stationary_law_past_the_stability_edge():
    theory = it.theory_alpha(0.2, 1, 10)  # E log‖M e₁‖ > 0
    assert math.isnan(theory.alpha) and theory.drift > 0 and math.isinf(theory.mixing_steps)
    assert it.chain_schedule(theory, burn_in=10, thin=1, n_snapshots=5) == (None, None, math.inf)


def test_step_for_alpha_inverts_the_theory():
    for target, b, d in [(0.5, 1, 1), (3.0, 2, 1), (1.0, 5, 10), (0.8, 5, 100)]:
        eta = it.step_for_alpha(target, b, d)
        assert it.theory_alpha(eta, b, d).alpha == pytest.approx(target, rel=1e-7)
    with pytest.raises(ValueError, match="target alpha"):
        it.step_for_alpha(0.0, 1, 1)


# --------------------------------------------------------------------------- simulation


def test_simulated_mean_square_error_follows_the_closed_form():
    """E‖x_k‖² = σ²(η²/b) d (1 − ρ₂^k)/(1 − ρ₂) from x₀ = 0, at α > 2 (finite variance), k = 2, 10, 300."""
    eta, b, d, sd = 0.2, 2, 10, 0.7
    x = it.simulate_linear_sgd(eta, b, d, n_chains=20_000, burn_in=2, n_snapshots=3, thin=8, noise_sd=sd, seed=4,
                               dtype="float64")
    for index, step in enumerate((2, 10)):
        squares = (x[index] ** 2).sum(axis=1)
        se = squares.std() / math.sqrt(squares.size)
        assert squares.mean() == pytest.approx(it.mean_square_error(eta, b, d, sd, steps=step), abs=4 * se)
    late = it.simulate_linear_sgd(eta, b, d, n_chains=20_000, burn_in=300, n_snapshots=1, thin=1, noise_sd=sd, seed=5)
    squares = (late[0] ** 2).sum(axis=1)
    assert squares.mean() == pytest.approx(it.mean_square_error(eta, b, d, sd), abs=4 * squares.std() / math.sqrt(squares.size))


def test_simulation_is_seeded_and_shaped():
    kwargs = dict(n_chains=30, burn_in=5, n_snapshots=4, thin=2)
    first = it.simulate_linear_sgd(0.3, 2, 3, seed=np.random.SeedSequence(7), **kwargs)
    assert first.shape == (4, 30, 3)
    np.testing.assert_array_equal(first, it.simulate_linear_sgd(0.3, 2, 3, seed=np.random.SeedSequence(7), **kwargs))
    assert not np.array_equal(first, it.simulate_linear_sgd(0.3, 2, 3, seed=np.random.SeedSequence(8), **kwargs))
    chunked = it.simulate_linear_sgd(0.3, 2, 3, seed=np.random.SeedSequence(7), max_chunk_entries=10**6, **kwargs)
    np.testing.assert_array_equal(first, chunked)
    with pytest.raises(ValueError, match="n_chains"):
        it.simulate_linear_sgd(0.3, 2, 3, n_chains=0, burn_in=1, n_snapshots=1, thin=1)


def test_simulated_iterates_have_the_theoretical_tail_in_ten_dimensions():
    eta = it.step_for_alpha(1.0, 5, 10)
    theory = it.theory_alpha(eta, 5, 10)
    burn, gap, _ = it.chain_schedule(theory, burn_in=10, thin=1, n_snapshots=20)
    x = it.simulate_linear_sgd(eta, 5, 10, n_chains=1000, burn_in=burn, n_snapshots=20, thin=gap, seed=2)
    rows = pd.DataFrame(it.iterate_alpha_rows(x, ("hill", "mohammadi"), seed=0))
    coordinates = rows[rows["target"] == "coordinate"]
    assert len(coordinates) == 20 and len(rows) == 22
    for method in ("hill", "mohammadi"):
        assert abs(coordinates.loc[coordinates["method"] == method, "alpha"].median() - 1.0) < 0.15, method
        norm = rows[(rows["target"] == "norm") & (rows["method"] == method)].iloc[0]
        assert abs(norm["alpha"] - 1.0) < 0.2 and norm["ci_low"] < norm["alpha"] < norm["ci_high"]


def test_symmetrised_norms_keep_the_norm_and_balance_signs():
    samples = np.random.default_rng(0).standard_normal((50, 400, 3))
    signed = it.symmetrised_norms(samples, 1)
    np.testing.assert_allclose(np.abs(signed), np.linalg.norm(samples, axis=-1))
    assert abs((signed > 0).mean() - 0.5) < 0.02
    np.testing.assert_array_equal(signed, it.symmetrised_norms(samples, 1))


def test_iterate_alpha_rows_flags_non_finite_and_bad_methods():
    samples = np.ones((5, 10, 2))
    samples[0, 0, 0] = np.inf
    rows = it.iterate_alpha_rows(samples, ("hill",))
    assert all(math.isnan(r["alpha"]) and r["note"] == "non-finite iterates" for r in rows if r["coordinate"] in (0, -1))
    with pytest.raises(ValueError, match="unknown method"):
        it.iterate_alpha_rows(samples, ("hills",))


def test_chain_schedule_from_the_mixing_time():
    theory = it.theory_alpha(0.3, 2, 10)
    burn, gap, total = it.chain_schedule(theory, burn_in=10, thin=0.5, n_snapshots=5, min_burn_in=3)
    assert burn == math.ceil(10 * theory.mixing_steps) and gap == math.ceil(0.5 * theory.mixing_steps)
    assert total == burn + 4 * gap


def test_linear_study_is_deterministic_and_skips_what_it_cannot_mix():
    settings = dict(noise_sd=1.0, n_chains=40, n_snapshots=3, burn_in=2, min_burn_in=5, thin=1, max_steps=100,
                    methods=["hill"], ci="analytic", level=0.95, theory_samples=2000, curve_points=4,
                    curve_alphas=[0.5, 4.0], device="cpu")
    case = dict(dim=10, batch_sizes=[5], etas=[0.6, 0.66])
    first = it.linear_study(case, settings, seed=3)
    second = it.linear_study(case, settings, seed=3)
    for a, b in zip(first, second):
        pd.testing.assert_frame_equal(a, b)
    measured, theory, curves = first
    assert list(theory["simulated"]) == [True, False] and "max_steps" in theory["skipped"].iloc[1]
    assert set(measured["eta"]) == {0.6} and len(curves) == 4
    assert np.all(np.diff(curves.sort_values("eta")["theory_alpha"]) < 0)
