"""Exact theory of the online-SGD chains on Gaussian linear regression (Gürbüzbalaban, Şimşekli & Zhu, ICML 2021).

**Linear regression, online.** Data a ~ N(0, I_d), y = aᵀx* + ε, ε ~ N(0, σ²); SGD with step η and
b fresh points per step. The error x_k − x* (written x_k below; x* drops out) follows

    x_{k+1} = M_{k+1} x_k + q_{k+1},   M = I − (η/b) Σ_{i≤b} a_i a_iᵀ,   q = (η/b) Σ_{i≤b} a_i ε_i,

an iid random affine recursion. Its stationary law has a power tail, P(uᵀx_∞ > t) ~ c t^{−α} in every
direction u and for ‖x_∞‖ (Kesten 1973, Goldie 1991; in d dimensions Alsmeyer & Mentemeier 2012, as
used by the paper), with α the positive root of the moment-Lyapunov function

    h(s) = lim_k (1/k) log E‖M_k ⋯ M_1 u‖^s = 0.

*Reduction (isotropy).* The law of M is invariant under M ↦ O M Oᵀ (O orthogonal), so given the past
the factor ‖M_k u_{k−1}‖ (u_{k−1} the current unit direction) has the law of ‖M e₁‖ whatever u_{k−1}:
the factors of ‖M_k ⋯ M_1 u‖ = Π_j ‖M_j u_{j−1}‖ are iid and h(s) = log E‖M e₁‖^s exactly, for every
k. With c = η/b, Q = Σ a_{i1}² ~ χ²_b and W ~ χ²_{d−1} independent (the other coordinates of
Σ a_i a_{i1} are N(0, Q) given Q):  ‖M e₁‖² = (1 − cQ)² + c²QW. In one dimension (W = 0) this is
Kesten–Goldie's E|1 − (η/b) Σ a_i²|^α = 1.

Three ways to h(s), each tested against the others:
- ``log_moment``: deterministic quadrature of the two-variable expectation (Gauss–Legendre in
  r = √Q on either side of the kink r = 1/√c, Gauss–Laguerre for W), with its error taken as the
  change from doubling every node count; ``theory_alpha`` finds the root and bounds it the same way;
- ``moment_lyapunov_mc``: Monte Carlo of E‖M e₁‖^s from exact draws of (Q, W), with a standard error;
  ``theory_alpha_mc`` its root with a delta-method interval;
- ``moment_lyapunov_products``: the definition, by brute force: explicit d × d matrices M_j
  multiplied onto u for k steps (for the tests: it equals log E‖M e₁‖^s at every k).

E‖M e₁‖² = 1 − 2η + (η/b)·η·(b + d + 1), so α = 2 exactly at η₂ = 2b/(b + d + 1)
(``step_for_alpha_two``); h'(0) = E log‖M e₁‖ < 0 is the condition for a stationary law at all, and
1/|h'(0)| the chains' mixing time in steps (``mixing_steps``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# scipy is imported where used (see the package docstring).

MAX_ALPHA = 64.0  # roots above this are reported as +inf
QUADRATURE_NODES = (96, 48)  # (outer nodes per side of the kink, inner Gauss–Laguerre nodes); doubled for the error


def _check_setting(eta, b, d):
    if not (isinstance(b, (int, np.integer)) and not isinstance(b, bool) and b >= 1):
        raise ValueError(f"batch size b must be an int >= 1, got {b!r}")
    if not (isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 1):
        raise ValueError(f"dimension d must be an int >= 1, got {d!r}")
    if not (isinstance(eta, (int, float, np.floating, np.integer)) and eta > 0 and math.isfinite(eta)):
        raise ValueError(f"step size eta must be a positive number, got {eta!r}")


# ----------------------------------------------------------------------------- closed forms


def step_for_alpha_two(b: int, d: int) -> float:
    """η₂ = 2b/(b + d + 1): the step at which E‖M e₁‖² = 1, i.e. the theoretical α is exactly 2."""
    _check_setting(1.0, b, d)
    return 2.0 * b / (b + d + 1)


def second_moment_factor(eta: float, b: int, d: int) -> float:
    """ρ₂ = E‖M e₁‖² = 1 − 2η + (η/b)·η·(b + d + 1); E M ᵀM = ρ₂ I."""
    _check_setting(eta, b, d)
    return 1.0 - 2.0 * eta + (eta / b) * eta * (b + d + 1)


def mean_square_error(eta: float, b: int, d: int, noise_sd: float = 1.0, steps=None):
    """E‖x_k − x*‖² of online SGD started at x*: σ²(η²/b) d (1 − ρ₂^k)/(1 − ρ₂) after k = ``steps`` steps
    (E‖x_{k+1}‖² = ρ₂ E‖x_k‖² + (η²/b) d σ²); ``steps=None``: the stationary value (inf if ρ₂ ≥ 1)."""
    rho = second_moment_factor(eta, b, d)
    noise = noise_sd**2 * eta**2 / b * d
    if steps is None:
        return noise / (1.0 - rho) if rho < 1 else math.inf
    steps = np.asarray(steps, dtype=np.float64)
    if rho == 1:
        return noise * steps
    return noise * (1.0 - rho**steps) / (1.0 - rho)


# ----------------------------------------------------------------------------- quadrature of h(s)


@lru_cache(maxsize=32)
def _gamma_rule(n: int, shape: float):
    """Gauss rule for the Gamma(shape, 1) law (nodes t_j, probability weights w_j) by Golub–Welsch on the
    generalised Laguerre recurrence (no Γ(shape) is formed, so any shape works)."""
    from scipy.linalg import eigh_tridiagonal

    i = np.arange(n, dtype=np.float64)
    diagonal = 2.0 * i + shape
    off = np.sqrt(i[1:] * (i[1:] + shape - 1.0))
    nodes, vectors = eigh_tridiagonal(diagonal, off)
    return nodes, vectors[0] ** 2


@lru_cache(maxsize=8)
def _legendre(n: int):
    nodes, weights = np.polynomial.legendre.leggauss(n)
    return (nodes + 1.0) / 2.0, weights / 2.0  # on [0, 1]


@dataclass(frozen=True)
class NormLogRule:
    """log‖M e₁‖ at the nodes of a product quadrature rule, and the rule's probability weights."""

    logs: np.ndarray     # log‖M e₁‖ at each node
    weights: np.ndarray  # nonnegative, summing to 1 (up to the tail cut, < 1e-15)

    def log_moment(self, s) -> np.ndarray:
        """h(s) = log Σ w exp(s·log‖M e₁‖) for an array of s."""
        return _log_mean_exp(s, self.logs, self.weights)[0]

    def log_moment_and_slope(self, s: float):
        """(h(s), h'(s)) at one s; h'(s) = Σ w L e^{sL} / Σ w e^{sL}."""
        value, slope = _log_mean_exp(s, self.logs, self.weights)
        return float(value[0]), float(slope[0])

    def drift(self) -> float:
        """h'(0) = E log‖M e₁‖."""
        return float(self.logs @ self.weights)


def _log_mean_exp(s, logs, weights):
    """log Σ w e^{sL} and its s-derivative, for an array of s (stable: the largest exponent is factored out)."""
    s = np.atleast_1d(np.asarray(s, dtype=np.float64))
    exponents = s[:, None] * logs[None, :]
    top = exponents.max(axis=1, keepdims=True)
    values = np.exp(exponents - top) * weights[None, :]
    total = values.sum(axis=1)
    return top[:, 0] + np.log(total), (values @ logs) / total


def norm_log_rule(eta: float, b: int, d: int, nodes=QUADRATURE_NODES, s_max: float = MAX_ALPHA) -> NormLogRule:
    """The product rule for E f(‖M e₁‖): r = √Q has the χ_b density r^{b−1}e^{−r²/2}/(2^{b/2−1}Γ(b/2));
    [0, r₀] and [r₀, R] (r₀ = 1/√c the kink, R past where r^{2 s_max + b} e^{−r²/2} is negligible) each
    get ``nodes[0]`` Gauss–Legendre nodes after r = r₀(1 − y³) resp. r₀ + (R − r₀)y³, which smooths the
    |r − r₀|^s cusp; W ~ χ²_{d−1} = 2·Gamma((d−1)/2) gets ``nodes[1]`` Gauss nodes of its own law."""
    from scipy import special

    _check_setting(eta, b, d)
    c = eta / b
    n_outer, n_inner = nodes
    r0 = 1.0 / math.sqrt(c)
    r_max = math.sqrt(2.0 * s_max + b) + 10.0
    y, wy = _legendre(n_outer)
    pieces = []
    if r0 < r_max:
        pieces.append((r0 * (1 - y**3), 3 * r0 * y**2 * wy))                       # [0, r0], dr = 3 r0 y² dy
        pieces.append((r0 + (r_max - r0) * y**3, 3 * (r_max - r0) * y**2 * wy))   # [r0, R]
    else:
        pieces.append((r_max * y, r_max * wy))                                     # no kink in the support
    r = np.concatenate([p[0] for p in pieces])
    dr = np.concatenate([p[1] for p in pieces])
    log_density = (b - 1) * np.log(np.maximum(r, 1e-300)) - r**2 / 2 - (b / 2 - 1) * math.log(2) - special.gammaln(b / 2)
    outer_w = dr * np.exp(log_density)
    outer_w = np.where(r > 0, outer_w, 0.0)
    q = r**2
    linear = 1.0 - c * q
    if d == 1:
        with np.errstate(divide="ignore"):
            logs = np.log(np.abs(linear))
        weights = outer_w
    else:
        t, wt = _gamma_rule(n_inner, (d - 1) / 2.0)
        square = linear[:, None] ** 2 + (c * c * q)[:, None] * (2.0 * t)[None, :]
        with np.errstate(divide="ignore"):
            logs = (0.5 * np.log(square)).reshape(-1)
        weights = (outer_w[:, None] * wt[None, :]).reshape(-1)
    keep = np.isfinite(logs) & (weights > 0)
    return NormLogRule(logs[keep], weights[keep] / weights[keep].sum())


def log_moment(s, eta: float, b: int, d: int = 1):
    """h(s) = log E‖M e₁‖^s by quadrature, with its error estimate (the change when every node count is
    doubled). Returns (h, error) as floats for a scalar s, arrays otherwise."""
    coarse = norm_log_rule(eta, b, d).log_moment(s)
    fine = norm_log_rule(eta, b, d, nodes=tuple(2 * n for n in QUADRATURE_NODES)).log_moment(s)
    error = np.abs(fine - coarse)
    if np.ndim(s) == 0:
        return float(fine[0]), float(error[0])
    return fine, error


def log_drift(eta: float, b: int, d: int = 1) -> float:
    """h'(0) = E log‖M e₁‖ (quadrature): negative iff the SGD recursion has a stationary law."""
    return norm_log_rule(eta, b, d, nodes=tuple(2 * n for n in QUADRATURE_NODES)).drift()


def mixing_steps(eta: float, b: int, d: int = 1) -> float:
    """1/|E log‖M e₁‖|: steps in which the log-norm of a perturbation contracts by 1 (inf if it does not)."""
    drift = log_drift(eta, b, d)
    return 1.0 / -drift if drift < 0 else math.inf


def _root_of(value_and_slope, drift: float, s_max: float = MAX_ALPHA, tol: float = 1e-12) -> float:
    """Positive root of a convex h with h(0) = 0 and h'(0) = drift < 0, given s ↦ (h(s), h'(s)): a point
    with h > 0 by doubling, then Newton from there (monotone from the right for a convex h), bisection
    as a guard. +inf if h < 0 up to ``s_max``, NaN if drift ≥ 0."""
    if not drift < 0:
        return math.nan
    low, high = 0.0, 1.0
    value, slope = value_and_slope(high)
    while value < 0:
        if high >= s_max:
            return math.inf
        low, high = high, min(2 * high, s_max)
        value, slope = value_and_slope(high)
    s = high
    for _ in range(200):
        if value == 0:
            return s
        if value > 0:
            high = s
        else:
            low = s
        step = value / slope if slope > 0 else math.inf
        candidate = s - step
        if not low < candidate < high:
            candidate = (low + high) / 2  # guard: bisection
        if abs(candidate - s) <= tol * max(1.0, s):
            return candidate
        s = candidate
        value, slope = value_and_slope(s)
    return s


@dataclass(frozen=True)
class TheoryAlpha:
    """Theoretical tail index with its bounds, the method, E log‖M e₁‖ (h'(0)) and the mixing time."""

    alpha: float
    low: float
    high: float
    method: str
    drift: float
    mixing_steps: float

    def as_dict(self, prefix: str = "theory_") -> dict:
        """The table columns ``{prefix}alpha``, ``{prefix}low``, ``{prefix}high``, ``{prefix}method``, ``log_drift``
        and ``mixing_steps``."""
        return {f"{prefix}alpha": self.alpha, f"{prefix}low": self.low, f"{prefix}high": self.high,
                f"{prefix}method": self.method, "log_drift": self.drift, "mixing_steps": self.mixing_steps}


def theory_alpha(eta: float, b: int, d: int = 1) -> TheoryAlpha:
    """α solving log E‖M e₁‖^α = 0 (= the moment-Lyapunov root, module docstring) by quadrature.

    Error bound: the rule with every node count doubled gives h at the root within ε of the coarse one;
    the bounds are α ∓ (ε + 1e-12)/h'(α) (h'(α) > 0: h is convex and crosses 0 upwards there).
    NaN if E log‖M e₁‖ ≥ 0 (no stationary law: the iterates diverge), +inf above MAX_ALPHA."""
    coarse = norm_log_rule(eta, b, d)
    fine = norm_log_rule(eta, b, d, nodes=tuple(2 * n for n in QUADRATURE_NODES))
    drift = fine.drift()
    mixing = 1.0 / -drift if drift < 0 else math.inf
    alpha = _root_of(fine.log_moment_and_slope, drift)
    if not math.isfinite(alpha) or alpha == 0:
        return TheoryAlpha(alpha, alpha, alpha, "quadrature", drift, mixing)
    value, slope = fine.log_moment_and_slope(alpha)
    error = abs(value - coarse.log_moment_and_slope(alpha)[0]) + abs(value) + 1e-12
    half = error / slope
    return TheoryAlpha(alpha, alpha - half, alpha + half, "quadrature", drift, mixing)


def step_for_alpha(target: float, b: int, d: int = 1) -> float:
    """The step η at which the theoretical α equals ``target`` (α decreases in η: found by bracketing
    around η₂ = step_for_alpha_two(b, d), where α = 2)."""
    from scipy import optimize

    if not 0 < target < MAX_ALPHA:
        raise ValueError(f"target alpha must be in (0, {MAX_ALPHA:g}), got {target!r}")
    eta2 = step_for_alpha_two(b, d)
    if target == 2:
        return eta2

    def gap(log_eta):
        alpha = theory_alpha(math.exp(log_eta), b, d).alpha
        if math.isnan(alpha):
            alpha = 0.0  # past the stability edge: below every target
        return math.log(min(max(alpha, 1e-300), 1e300)) - math.log(target)

    step = 0.5 if target > 2 else 0.02
    low, high = math.log(eta2), math.log(eta2)
    if target > 2:
        while gap(low) < 0:
            low -= step
            step *= 2
    else:
        while gap(high) > 0:
            high += step
            step *= 2
    return math.exp(optimize.brentq(gap, low, high, xtol=1e-12, rtol=1e-12))
