"""Theory the simulated exit times are checked against (docs/science.md §5).

Small-noise mean exit times of Lévy-driven SDEs from a basin (Imkeller & Pavlyukevich 2006) and from a
ball (Nguyen et al., NeurIPS 2019), and the exact mean exit time of the α = 2 diffusion by quadrature.
"""

from __future__ import annotations

import math

import numpy as np

from sgnoise.sde.levy import _check_count, _check_positive, check_alpha
from sgnoise.sde.simulate import NOISE_KINDS, _check_real


def levy_exit_constant(alpha) -> float:
    """c_α = Γ(1+α) sin(πα/2) / π: the Lévy measure of SαS(α, 1) is c_α |y|^{−1−α} dy (zero at α = 2)."""
    alpha = check_alpha(alpha)
    return math.gamma(1.0 + alpha) * math.sin(math.pi * alpha / 2.0) / math.pi


def mean_exit_time_theory(alpha, eps, lower, upper) -> float:
    """Small-noise mean exit time from the basin (lower, upper) = (−b, a) of a minimum at 0, α < 2.

    Imkeller & Pavlyukevich (2006): E τ ≈ α / (c_α ε^α (a^−α + b^−α)), c_α = Γ(1+α) sin(πα/2)/π,
    the inverse rate of single jumps of εL that leave the basin; independent of the potential's depth.
    """
    alpha = check_alpha(alpha)
    if alpha == 2.0:
        raise ValueError("alpha = 2 has no jumps (c_2 = 0): use mean_exit_time_diffusion")
    eps = _check_positive(eps, "eps")
    lower, upper = _check_real(lower, "lower"), _check_real(upper, "upper")
    if not lower < 0.0 < upper:
        raise ValueError(f"the basin must contain the minimum at 0: need lower < 0 < upper, got ({lower}, {upper})")
    rate = levy_exit_constant(alpha) * eps**alpha * (upper ** (-alpha) + (-lower) ** (-alpha)) / alpha
    return float(1.0 / rate)


def _cumulative_trapezoid(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """∫_{x_0}^{x_i} y by the trapezoid rule, for every i (0 at i = 0)."""
    out = np.zeros_like(y)
    np.cumsum(0.5 * (y[1:] + y[:-1]) * np.diff(x), out=out[1:])
    return out


def mean_exit_time_diffusion(eps, *, potential, lower, upper, x0=0.0, n_grid=20001) -> float:
    """Exact mean exit time from (lower, upper) of dX = −U'(X) dt + ε dL, L = √2·W (α = 2 member of SαS).

    T solves ε² T'' − U' T' = −1, T(lower) = T(upper) = 0; integrating twice,
    T(x) = ε^{−2} ∫_l^x e^{U(y)/ε²} [C − ∫_l^y e^{−U(z)/ε²} dz] dy with C set by T(upper) = 0.
    Both integrals by the trapezoid rule on ``n_grid`` points (x0 a node). ``potential``: U(x).
    """
    eps = _check_positive(eps, "eps")
    lower, upper, x0 = (_check_real(v, n) for v, n in ((lower, "lower"), (upper, "upper"), (x0, "x0")))
    if not (math.isfinite(lower) and math.isfinite(upper) and lower < x0 < upper):
        raise ValueError(f"need finite lower < x0 < upper, got lower={lower}, x0={x0}, upper={upper}")
    n_grid = _check_count(n_grid, "n_grid", minimum=11)
    if not callable(potential):
        raise TypeError("potential must be a callable returning U(x) for an array x")
    n_left = max(3, int(round((n_grid - 1) * (x0 - lower) / (upper - lower))) + 1)
    n_right = max(3, n_grid - n_left + 1)
    grid = np.concatenate([np.linspace(lower, x0, n_left), np.linspace(x0, upper, n_right)[1:]])
    i0 = n_left - 1
    u = np.asarray(potential(grid), dtype=float)
    if u.shape != grid.shape or not np.all(np.isfinite(u)):
        raise ValueError("potential must return finite values of the input's shape on [lower, upper]")
    diffusion = eps**2
    # Scaled to avoid overflow: exp(U/D) = e^{Umax/D}·up, exp(−U/D) = e^{−Umin/D}·down.
    up = np.exp((u - u.max()) / diffusion)
    down = np.exp((u.min() - u) / diffusion)
    inner = _cumulative_trapezoid(down, grid)
    constant = np.trapezoid(up * inner, grid) / np.trapezoid(up, grid)
    outer = np.trapezoid((up * (constant - inner))[: i0 + 1], grid[: i0 + 1])
    log_factor = (u.max() - u.min()) / diffusion
    if log_factor > 700:
        return math.inf
    return float(math.exp(log_factor) * outer / diffusion)


def ball_exit_rate(alpha, radius, dim, noise="isotropic") -> float:
    """Lévy measure of {|y| ≥ radius} for the noise ζ of :func:`discrete_exit_times` (α < 2).

    Isotropic: ν = 2^α Γ((d+α)/2) / (Γ(1−α/2) Γ(d/2)) · r^{−α} (Lévy density
    α 2^{α−1} Γ((d+α)/2) / (π^{d/2} Γ(1−α/2)) |y|^{−d−α}); coordinatewise: d · 2c_α/α · r^{−α}.
    """
    alpha = check_alpha(alpha)
    if alpha == 2.0:
        raise ValueError("alpha = 2 noise has no jumps: its Lévy measure is zero")
    radius = _check_positive(radius, "radius")
    dim = _check_count(dim, "dim")
    if noise == "isotropic":
        log_c = (alpha * math.log(2.0) + math.lgamma((dim + alpha) / 2.0)
                 - math.lgamma(1.0 - alpha / 2.0) - math.lgamma(dim / 2.0))
        return float(math.exp(log_c) * radius ** (-alpha))
    if noise == "coordinatewise":
        return float(dim * 2.0 * levy_exit_constant(alpha) / alpha * radius ** (-alpha))
    raise ValueError(f"noise must be one of {NOISE_KINDS}, got {noise!r}")


def ball_exit_time_theory(alpha, eps, radius, dim, noise="isotropic") -> float:
    """Small-noise mean exit time from the ball of a minimum: E τ ≈ 1 / (ε^α ν(|y| ≥ radius)).

    The multidimensional Imkeller–Pavlyukevich rate of one jump of εζ leaving the ball
    (Nguyen et al. 2019); time in continuous units (iterations × η), the η → 0 limit.
    """
    eps = _check_positive(eps, "eps")
    return 1.0 / (eps ** float(alpha) * ball_exit_rate(alpha, radius, dim, noise))
