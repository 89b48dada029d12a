"""Symmetric α-stable (SαS) random numbers and Lévy motion.

Parametrisation (docs/science.md §2): SαS(α, σ) has characteristic function
E exp(iuX) = exp(−|σu|^α), 0 < α ≤ 2; α = 2 is N(0, 2σ²), α = 1 is Cauchy(0, σ).
It equals scipy's ``levy_stable(alpha, 0, scale=σ)`` (β = 0, where S0 and S1 coincide).
"""

from __future__ import annotations

import numbers
import operator

import numpy as np

__all__ = [
    "as_generator",
    "check_alpha",
    "sample_sas",
    "sample_positive_stable",
    "sample_isotropic_sas",
    "levy_motion_increments",
    "levy_motion_paths",
]


def as_generator(rng) -> np.random.Generator:
    """``rng`` as a numpy Generator: None (fresh entropy), an int seed, a SeedSequence or a Generator."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (numbers.Integral, np.random.SeedSequence)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be None, an int seed, a SeedSequence or a numpy Generator, got {type(rng).__name__}")


def check_alpha(alpha, name: str = "alpha", low_open: float = 0.0, high: float = 2.0) -> float:
    """``alpha`` as a float in (low_open, high], else a ValueError/TypeError naming the argument."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"{name} must be a real number in ({low_open:g}, {high:g}], got {alpha!r}")
    alpha = float(alpha)
    if not (low_open < alpha <= high):
        raise ValueError(f"{name} must be in ({low_open:g}, {high:g}], got {alpha!r}")
    return alpha


def _check_positive(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive real number, got {value!r}")
    value = float(value)
    if not (value > 0 and np.isfinite(value)):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return value


def _check_size(size) -> tuple[int, ...]:
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        size = (size,)
    try:
        shape = tuple(operator.index(n) for n in size)
    except TypeError:
        raise TypeError(f"size must be a non-negative int or a tuple of them, got {size!r}") from None
    if any(n < 0 for n in shape):
        raise ValueError(f"size must be non-negative, got {size!r}")
    return shape


def _check_count(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def _standard_sas(alpha: float, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """SαS(α, 1) by Chambers–Mallows–Stuck (1976) for β = 0, V ~ U(−π/2, π/2), W ~ Exp(1):
    X = sin(αV) / cos(V)^{1/α} · (cos((1−α)V) / W)^{(1−α)/α};  α = 1 gives tan V, α = 2 is √2·N(0, 1).
    """
    if alpha == 2.0:
        out = rng.standard_normal(shape)
        out *= np.sqrt(2.0)
        return out
    v = rng.uniform(-np.pi / 2, np.pi / 2, shape)
    if alpha == 1.0:
        return np.tan(v, out=v)
    w = rng.standard_exponential(shape)
    # In logs, in place (fewer transcendental calls and temporaries than two powers):
    # X = sin(αV) · exp{[(1−α)·log(cos((1−α)V)/W) − log cos V] / α}.
    out = np.cos((1.0 - alpha) * v)
    np.divide(out, w, out=out)
    np.log(out, out=out)
    out *= 1.0 - alpha
    np.cos(v, out=w)
    np.log(w, out=w)
    out -= w
    out *= 1.0 / alpha
    np.exp(out, out=out)
    v *= alpha
    np.sin(v, out=v)
    out *= v
    return out


def sample_sas(alpha, size, scale=1.0, rng=None) -> np.ndarray:
    """Draw SαS(α, scale) variables: characteristic function exp(−|scale·u|^α), 0 < α ≤ 2.

    Chambers–Mallows–Stuck (1976) with β = 0; α = 1 (Cauchy, tan V) and α = 2
    (N(0, 2·scale²)) exactly. ``size``: int or shape tuple; ``rng``: Generator or seed.
    """
    alpha = check_alpha(alpha)
    scale = _check_positive(scale, "scale")
    shape = _check_size(size)
    out = _standard_sas(alpha, shape, as_generator(rng))
    if scale != 1.0:
        out *= scale
    return out


def sample_positive_stable(exponent, size, rng=None) -> np.ndarray:
    """Totally skewed positive stable A with Laplace transform E exp(−sA) = exp(−s^a), 0 < a ≤ 1.

    Kanter (1975): A = sin(aV)/sin(V)^{1/a} · (sin((1−a)V)/W)^{(1−a)/a}, V ~ U(0, π), W ~ Exp(1);
    a = 1 gives A = 1. Used as the mixing variable of isotropic α-stable vectors (a = α/2).
    """
    exponent = check_alpha(exponent, "exponent", high=1.0)
    shape = _check_size(size)
    rng = as_generator(rng)
    if exponent == 1.0:
        return np.ones(shape)
    v = rng.uniform(0.0, np.pi, shape)
    w = rng.standard_exponential(shape)
    a = exponent
    return np.sin(a * v) / np.sin(v) ** (1.0 / a) * (np.sin((1.0 - a) * v) / w) ** ((1.0 - a) / a)


def sample_isotropic_sas(alpha, size, dim, scale=1.0, rng=None) -> np.ndarray:
    """Rotationally invariant α-stable vectors in R^dim: E exp(i⟨u, X⟩) = exp(−|scale·u|^α).

    Sub-Gaussian construction (Samorodnitsky & Taqqu 1994, §2.5): X = scale·√A·G with
    G ~ N(0, 2·I) and A positive (α/2)-stable with E e^{−sA} = e^{−s^{α/2}}. Shape (*size, dim).
    Every one-dimensional projection ⟨e, X⟩ with |e| = 1 is SαS(α, scale).
    """
    alpha = check_alpha(alpha)
    dim = _check_count(dim, "dim")
    scale = _check_positive(scale, "scale")
    shape = _check_size(size)
    rng = as_generator(rng)
    mixing = sample_positive_stable(alpha / 2.0, shape, rng)
    out = rng.standard_normal(shape + (dim,))
    out *= (np.sqrt(2.0 * mixing) * scale)[..., None]
    return out


def levy_motion_increments(alpha, n_steps, dt, n_paths=1, scale=1.0, rng=None) -> np.ndarray:
    """Increments L_{t+dt} − L_t of α-stable Lévy motion: scale·dt^{1/α}·SαS(α, 1), shape (n_paths, n_steps).

    Self-similarity L_{ct} = c^{1/α} L_t (in law) makes these exact, not an approximation.
    """
    alpha = check_alpha(alpha)
    n_steps = _check_count(n_steps, "n_steps")
    n_paths = _check_count(n_paths, "n_paths")
    dt = _check_positive(dt, "dt")
    scale = _check_positive(scale, "scale")
    return sample_sas(alpha, (n_paths, n_steps), scale=scale * dt ** (1.0 / alpha), rng=rng)


def levy_motion_paths(alpha, n_steps, dt, n_paths=1, scale=1.0, rng=None) -> np.ndarray:
    """Paths of α-stable Lévy motion on the grid t_k = k·dt, k = 0..n_steps, started at L_0 = 0.

    Cumulative sums of :func:`levy_motion_increments`; shape (n_paths, n_steps + 1).
    L_t ~ SαS(α, scale·t^{1/α}); α = 2 is Brownian motion with variance 2·scale²·t.
    """
    increments = levy_motion_increments(alpha, n_steps, dt, n_paths=n_paths, scale=scale, rng=rng)
    paths = np.zeros((increments.shape[0], increments.shape[1] + 1))
    np.cumsum(increments, axis=1, out=paths[:, 1:])
    return paths
