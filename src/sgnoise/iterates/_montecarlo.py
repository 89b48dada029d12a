"""Monte Carlo checks of the moment-Lyapunov function h(s) = log E‖M e₁‖^s (see :mod:`sgnoise.iterates._theory`):
from exact draws of ‖M e₁‖, and by its definition with explicit random-matrix products."""

from __future__ import annotations

import math

import numpy as np

from sgnoise.iterates._theory import TheoryAlpha, _check_setting, _log_mean_exp, _root_of


def sample_norm_logs(eta: float, b: int, d: int, n_samples: int, rng) -> np.ndarray:
    """n exact draws of log‖M e₁‖ = ½ log((1 − cQ)² + c²QW), Q ~ χ²_b, W ~ χ²_{d−1}."""
    _check_setting(eta, b, d)
    rng = np.random.default_rng(rng)
    c = eta / b
    q = rng.chisquare(b, n_samples)
    square = (1.0 - c * q) ** 2
    if d > 1:
        square = square + c * c * q * rng.chisquare(d - 1, n_samples)
    with np.errstate(divide="ignore"):
        return 0.5 * np.log(square)


def moment_lyapunov_mc(s, logs: np.ndarray, level: float = 0.95):
    """Monte Carlo h(s) = log mean exp(s·L) over draws L of log‖M e₁‖ and its ``level`` half-width
    (z · standard error of the mean, relative, by the delta method). Arrays over s."""
    from scipy import stats as scipy_stats

    s = np.atleast_1d(np.asarray(s, dtype=np.float64))
    logs = logs[np.isfinite(logs)]
    exponents = s[:, None] * logs[None, :]
    top = exponents.max(axis=1, keepdims=True)
    values = np.exp(exponents - top)
    mean = values.mean(axis=1)
    se = values.std(axis=1, ddof=1) / math.sqrt(logs.size) / mean
    z = scipy_stats.norm.ppf(0.5 + level / 2)
    return top[:, 0] + np.log(mean), z * se


def theory_alpha_mc(eta: float, b: int, d: int = 1, n_samples: int = 10**6, seed=0, level: float = 0.95) -> TheoryAlpha:
    """α by Monte Carlo of h(s) = log E‖M e₁‖^s from ``n_samples`` exact draws of ‖M e₁‖ (seeded): the
    root of the sample ĥ, with the delta-method interval α ∓ z·se(ĥ(α))/ĥ'(α)."""
    logs = sample_norm_logs(eta, b, d, n_samples, seed)
    finite = logs[np.isfinite(logs)]
    weights = np.full(finite.size, 1.0 / finite.size)
    drift = float(finite.mean())
    mixing = 1.0 / -drift if drift < 0 else math.inf

    def value_and_slope(s):
        value, slope = _log_mean_exp(s, finite, weights)
        return float(value[0]), float(slope[0])

    alpha = _root_of(value_and_slope, drift, tol=1e-10)
    if not math.isfinite(alpha) or alpha == 0:
        return TheoryAlpha(alpha, alpha, alpha, "monte_carlo", drift, mixing)
    _, half = moment_lyapunov_mc(alpha, finite, level)
    slope = value_and_slope(alpha)[1]
    width = float(half[0]) / slope
    return TheoryAlpha(alpha, max(alpha - width, 0.0), alpha + width, "monte_carlo", drift, mixing)


def moment_lyapunov_products(s, eta: float, b: int, d: int, k: int, n_paths: int, rng, u=None):
    """The definition by brute force: (1/k) log mean ‖M_k ⋯ M_1 u‖^s over ``n_paths`` products of k
    explicit d × d matrices M = I − (η/b) Σ a_i a_iᵀ (a_i ~ N(0, I_d)), u = e₁ unless given; with a
    standard error (delta method). By isotropy it equals log E‖M e₁‖^s for every k (isotropy, :mod:`sgnoise.iterates._theory`)."""
    _check_setting(eta, b, d)
    rng = np.random.default_rng(rng)
    vectors = np.tile(np.eye(d)[0] if u is None else np.asarray(u, dtype=np.float64) / np.linalg.norm(u), (n_paths, 1))
    log_norm = np.zeros(n_paths)
    for _ in range(k):
        a = rng.standard_normal((n_paths, b, d))
        matrices = np.eye(d)[None] - (eta / b) * np.einsum("nbi,nbj->nij", a, a)
        vectors = np.einsum("nij,nj->ni", matrices, vectors)
        norms = np.linalg.norm(vectors, axis=1)
        log_norm += np.log(norms)
        vectors /= norms[:, None]
    s = np.atleast_1d(np.asarray(s, dtype=np.float64))
    exponents = s[:, None] * log_norm[None, :]
    top = exponents.max(axis=1, keepdims=True)
    values = np.exp(exponents - top)
    mean = values.mean(axis=1)
    se = values.std(axis=1, ddof=1) / math.sqrt(n_paths) / mean
    return (top[:, 0] + np.log(mean)) / k, se / k
