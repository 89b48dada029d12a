"""Heavy-tailed SGD iterates (Gürbüzbalaban, Şimşekli & Zhu, ICML 2021): the tail index α of the
iterates themselves, measured on many vectorised SGD chains and held against exact theory.

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

**Simulation.** ``simulate_linear_sgd`` runs n_chains independent chains of the literal online SGD
(fresh a_i, ε_i every step, x₀ = x*) in one batched tensor operation per step and returns snapshots of
the stationary iterates; ``iterate_alpha_rows`` estimates α of every coordinate and of the norm (made
symmetric by independent random signs: the block estimators assume a symmetric law) with the
estimators of :mod:`sgnoise.tail`.

**Networks.** ``train_fcn_iterates`` trains several FCNs (:func:`sgnoise.models.build_model`, one per
step size) at one batch size as one batched model and records the weights over the last iterations;
``fluctuation_alpha_rows`` estimates α per layer of their fluctuations around a trailing running mean
(``fluctuation_matrix``). See docs/iterates.md.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# scipy, pandas and sgnoise.tail are imported where used: the workflow imports this module to check the
# config (check_iterates_config) and should not pay ~1.5 s for them on every snakemake call.

MAX_ALPHA = 64.0  # roots above this are reported as +inf
QUADRATURE_NODES = (96, 48)  # (outer nodes per side of the kink, inner Gauss–Laguerre nodes); doubled for the error


# ----------------------------------------------------------------------------- seeds


def setting_seed(seed: int, part: str, **values) -> np.random.SeedSequence:
    """A SeedSequence from (seed, part name, setting values): reproducible and independent of the order
    in which settings are run."""
    key = part + "|" + "|".join(f"{name}={values[name]!r}" for name in sorted(values))
    return np.random.SeedSequence([int(seed), zlib.crc32(key.encode())])


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


# ----------------------------------------------------------------------------- Monte Carlo of h(s)


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
    standard error (delta method). By isotropy it equals log E‖M e₁‖^s for every k (module docstring)."""
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


# ----------------------------------------------------------------------------- simulation


def simulate_linear_sgd(eta: float, b: int, d: int, *, n_chains: int, burn_in: int, n_snapshots: int, thin: int,
                        noise_sd: float = 1.0, seed=0, dtype="float32", device="cpu", max_chunk_entries: int = 2**23):
    """Online SGD on Gaussian linear regression, ``n_chains`` independent chains at once.

    Every step each chain draws b fresh rows a_i ~ N(0, I_d) and noises ε_i ~ N(0, σ²) and does
    x ← x − (η/b) Σ a_i (a_iᵀx − ε_i) on its error x = x_k − x* (x₀ = 0: started at the optimum);
    chains are advanced in chunks of at most ``max_chunk_entries`` a-entries, each chunk one batched
    tensor operation per step. Snapshots after ``burn_in`` steps and then every ``thin`` steps.

    Returns an (n_snapshots, n_chains, d) float64 array (snapshot-major, so that consecutive entries of
    one snapshot row come from different chains). Non-finite values (float overflow far past the
    stability edge) stay in the array; the caller decides. Same seed → the same array."""
    import torch

    _check_setting(eta, b, d)
    for name, value, smallest in (("n_chains", n_chains, 1), ("burn_in", burn_in, 0), ("n_snapshots", n_snapshots, 1),
                                  ("thin", thin, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < smallest:
            raise ValueError(f"{name} must be an int >= {smallest}, got {value!r}")
    torch_dtype = {"float32": torch.float32, "float64": torch.float64}[dtype]
    sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(int(seed))
    generator_seed = int(sequence.generate_state(1, np.uint64)[0] % 2**63)
    generator = torch.Generator(device=device).manual_seed(generator_seed)
    c = eta / b
    out = np.empty((n_snapshots, n_chains, d))
    chunk = max(1, min(n_chains, max_chunk_entries // (b * d)))
    stops = {burn_in + j * thin: j for j in range(n_snapshots)}
    last = burn_in + (n_snapshots - 1) * thin
    for start in range(0, n_chains, chunk):
        n = min(chunk, n_chains - start)
        x = torch.zeros(n, d, 1, dtype=torch_dtype, device=device)
        a = torch.empty(n, b, d, dtype=torch_dtype, device=device)
        noise = torch.empty(n, b, 1, dtype=torch_dtype, device=device)
        for step in range(last + 1):
            if step in stops:
                out[stops[step], start:start + n] = x[:, :, 0].double().cpu().numpy()
            if step == last:
                break
            torch.randn(a.shape, generator=generator, dtype=torch_dtype, device=device, out=a)
            torch.randn(noise.shape, generator=generator, dtype=torch_dtype, device=device, out=noise)
            residual = torch.baddbmm(noise, a, x, beta=-noise_sd)          # a x − σ ε'
            x.sub_(torch.bmm(a.transpose(1, 2), residual), alpha=c)       # x − c Σ a_i (a_iᵀx − ε_i)
    return out


def chain_schedule(theory: TheoryAlpha, *, burn_in: float, thin: float, n_snapshots: int, min_burn_in: int = 50):
    """(burn-in steps, thinning steps, total steps) from the mixing time τ = 1/|E log‖M e₁‖|:
    max(min_burn_in, ⌈burn_in·τ⌉), max(1, ⌈thin·τ⌉); inf total when there is no stationary law."""
    tau = theory.mixing_steps
    if not math.isfinite(tau):
        return None, None, math.inf
    burn = max(int(min_burn_in), math.ceil(burn_in * tau))
    gap = max(1, math.ceil(thin * tau))
    return burn, gap, burn + (n_snapshots - 1) * gap


def symmetrised_norms(samples: np.ndarray, rng) -> np.ndarray:
    """‖x‖ times independent random signs, (n_snapshots, n_chains): symmetric, with the tail of ‖x‖."""
    norms = np.linalg.norm(samples, axis=-1)
    signs = np.random.default_rng(rng).integers(0, 2, size=norms.shape) * 2 - 1
    return norms * signs


def _estimate_row(sample, method, ci, level, method_options):
    """One α̂ with its interval (:func:`sgnoise.tail.estimate_alpha_ci`); NaN where the sample is not finite."""
    from sgnoise.tail import estimate_alpha_ci

    sample = np.asarray(sample, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(sample)):
        return dict(alpha=math.nan, ci_low=math.nan, ci_high=math.nan, n_samples=int(sample.size), note="non-finite iterates")
    options = dict(method_options.get(method, {}))
    estimate = estimate_alpha_ci(sample, method, ci=ci, level=level, **options)
    return dict(alpha=estimate.alpha, ci_low=estimate.ci_low, ci_high=estimate.ci_high, n_samples=estimate.n_samples,
                note="")


def iterate_alpha_rows(samples: np.ndarray, methods=("mohammadi", "hill"), *, ci: str = "analytic", level: float = 0.95,
                       method_options=None, seed=0) -> list[dict]:
    """α̂ of the stationary iterates ``samples`` (n_snapshots, n_chains, d): one row per coordinate
    (``target`` = "coordinate", ``coordinate`` = j, the sample of x_j over snapshots × chains, C order)
    and one for the norm (``target`` = "norm", ``coordinate`` = −1, :func:`symmetrised_norms`), per
    method of :mod:`sgnoise.tail`, with ``level`` intervals."""
    from sgnoise.tail import METHODS

    for method in methods:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    method_options = method_options or {}
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 3:
        raise ValueError(f"samples must be (n_snapshots, n_chains, d), got shape {samples.shape}")
    norms = symmetrised_norms(samples, seed) if np.all(np.isfinite(samples)) else np.full(samples.shape[:2], np.nan)
    rows = []
    for method in methods:
        for j in range(samples.shape[2]):
            rows.append(dict(method=method, target="coordinate", coordinate=j,
                             **_estimate_row(samples[:, :, j], method, ci, level, method_options)))
        rows.append(dict(method=method, target="norm", coordinate=-1, **_estimate_row(norms, method, ci, level, method_options)))
    return rows


# ----------------------------------------------------------------------------- the linear-regression study


def case_steps(case: dict) -> dict[int, list[float]]:
    """Batch size → the step sizes of one ``iterates.linear.cases`` entry: its ``etas``, or for each of its
    ``alphas`` the step at which the theory gives that α (:func:`step_for_alpha`)."""
    d = case["dim"]
    steps = {}
    for b in case["batch_sizes"]:
        if case.get("etas") is not None:
            steps[b] = [float(eta) for eta in case["etas"]]
        else:
            steps[b] = [step_for_alpha(float(alpha), b, d) for alpha in case["alphas"]]
    return steps


def theory_curve(b: int, d: int, alpha_low: float, alpha_high: float, n_points: int) -> pd.DataFrame:
    """Theoretical α (quadrature, with bounds) on ``n_points`` log-spaced steps from where the theory gives
    ``alpha_high`` to where it gives ``alpha_low``: the figure's lines."""
    import pandas as pd

    rows = []
    eta_low, eta_high = step_for_alpha(alpha_high, b, d), step_for_alpha(alpha_low, b, d)
    for eta in np.geomspace(eta_low, eta_high, n_points):
        theory = theory_alpha(float(eta), b, d)
        rows.append(dict(dim=d, batch_size=b, eta=float(eta), eta_over_b=float(eta) / b, **theory.as_dict()))
    return pd.DataFrame(rows)


MEASURED_COLUMNS = ["dim", "batch_size", "eta", "eta_over_b", "target_alpha", "method", "target", "coordinate", "alpha",
                    "ci_low", "ci_high", "n_samples", "note", "theory_alpha"]


def linear_study(case: dict, settings: dict, seed: int = 0, log=None):
    """One ``iterates.linear.cases`` entry (one dimension d; ``settings`` = the schema-filled ``linear`` block).

    Returns three tables: ``measured``, α̂ per (b, η, method, target, coordinate) (:func:`iterate_alpha_rows`)
    with the setting's theory; ``theory``, one row per setting with the theory by quadrature
    (``theory_*``) and by Monte Carlo (``mc_*``), the chain schedule and whether it was simulated
    (``skipped`` says why not: no stationary law, or more than ``max_steps`` steps needed); ``curves``,
    the theoretical lines (:func:`theory_curve`). Same case, settings and seed → the same tables."""
    import pandas as pd

    d = int(case["dim"])
    device = settings.get("device", "cpu")
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    measured, theory_rows, curves = [], [], []
    for b, etas in case_steps(case).items():
        for index, eta in enumerate(etas):
            values = dict(dim=d, batch_size=b, eta=round(eta, 12))
            theory = theory_alpha(eta, b, d)
            mc = theory_alpha_mc(eta, b, d, n_samples=settings["theory_samples"],
                                 seed=setting_seed(seed, "linear_theory", **values), level=settings["level"])
            burn, gap, total = chain_schedule(theory, burn_in=settings["burn_in"], thin=settings["thin"],
                                              n_snapshots=settings["n_snapshots"], min_burn_in=settings["min_burn_in"])
            skipped = ""
            if not math.isfinite(total):
                skipped = "no stationary law (E log|M e1| >= 0)"
            elif total > settings["max_steps"]:
                skipped = f"needs {total} steps > max_steps {settings['max_steps']}"
            target = float(case["alphas"][index]) if case.get("alphas") is not None else math.nan
            setting = dict(dim=d, batch_size=b, eta=eta, eta_over_b=eta / b, target_alpha=target)
            theory_rows.append(dict(**setting, **theory.as_dict(), mc_alpha=mc.alpha, mc_low=mc.low, mc_high=mc.high,
                                    mc_samples=settings["theory_samples"], burn_in=burn, thin=gap,
                                    steps=total if math.isfinite(total) else None, n_chains=settings["n_chains"],
                                    n_snapshots=settings["n_snapshots"], simulated=not skipped, skipped=skipped))
            if log:
                print(f"d={d} b={b} eta={eta:.6g}: theory alpha {theory.alpha:.4g} (quadrature), {mc.alpha:.4g} "
                      f"[{mc.low:.4g}, {mc.high:.4g}] (Monte Carlo); {total} steps{' - ' + skipped if skipped else ''}",
                      file=log, flush=True)
            if skipped:
                continue
            samples = simulate_linear_sgd(eta, b, d, n_chains=settings["n_chains"], burn_in=burn,
                                          n_snapshots=settings["n_snapshots"], thin=gap, noise_sd=settings["noise_sd"],
                                          device=device, seed=setting_seed(seed, "linear_chains", **values))
            rows = iterate_alpha_rows(samples, settings["methods"], ci=settings["ci"], level=settings["level"],
                                      seed=setting_seed(seed, "linear_signs", **values))
            measured += [dict(**setting, **row, theory_alpha=theory.alpha) for row in rows]
        low, high = settings["curve_alphas"]
        curves.append(theory_curve(b, d, low, high, settings["curve_points"]))
    return pd.DataFrame(measured, columns=MEASURED_COLUMNS), pd.DataFrame(theory_rows), pd.concat(curves, ignore_index=True)


def summarise_measured(measured: pd.DataFrame) -> pd.DataFrame:
    """One row per (dim, b, η, method, target): the coordinates' median α̂ and the medians of their interval
    bounds (the typical one-coordinate interval); the norm's own α̂ and interval."""
    keys = ["dim", "batch_size", "eta", "eta_over_b", "target_alpha", "method", "target"]
    grouped = measured.groupby(keys, dropna=False)
    summary = grouped.agg(alpha=("alpha", "median"), ci_low=("ci_low", "median"), ci_high=("ci_high", "median"),
                          alpha_q10=("alpha", lambda v: v.quantile(0.1)), alpha_q90=("alpha", lambda v: v.quantile(0.9)),
                          n_coordinates=("alpha", "size"), n_samples=("n_samples", "first"),
                          theory_alpha=("theory_alpha", "first")).reset_index()
    return summary


# ----------------------------------------------------------------------------- networks


def stacked_fcn_weights(models) -> list:
    """The Linear weights of several FCNs of one architecture (:class:`sgnoise.models.FCN`), stacked
    layer by layer into (G, out, in) tensors (copies, float32, requiring grad)."""
    import torch

    layers = [list(model.layers) for model in models]
    if len({tuple(tuple(layer.weight.shape) for layer in net) for net in layers}) != 1:
        raise ValueError("the FCNs to stack must all have the same architecture")
    return [torch.stack([net[i].weight.detach() for net in layers]).clone().requires_grad_(True)
            for i in range(len(layers[0]))]


def stacked_fcn_forward(weights, inputs):
    """Outputs (G, B, C) of G stacked FCNs on inputs (G, B, ...): Linear (no bias), ReLU between, as
    :class:`sgnoise.models.FCN`."""
    import torch

    x = inputs.flatten(2)
    for weight in weights[:-1]:
        x = torch.relu(torch.bmm(x, weight.transpose(1, 2)))
    return torch.bmm(x, weights[-1].transpose(1, 2))


def coordinate_subset(size: int, max_coords, rng) -> np.ndarray:
    """Sorted seeded subset of at most ``max_coords`` of ``size`` flat indices (all if None or ≥ size)."""
    if max_coords is None or max_coords >= size:
        return np.arange(size)
    return np.sort(np.random.default_rng(rng).choice(size, int(max_coords), replace=False))


def running_mean_fluctuations(series: np.ndarray, window: int) -> np.ndarray:
    """u_t = w_t − mean(w_{t−window}, …, w_{t−1}) for t = window … T−1, along axis 0 of a (T, …) array
    (the trailing running mean of the previous ``window`` recorded iterates)."""
    series = np.asarray(series, dtype=np.float64)
    if not 1 <= window < series.shape[0]:
        raise ValueError(f"running-mean window must be in [1, {series.shape[0] - 1}] for {series.shape[0]} iterates, got {window}")
    cumulative = np.concatenate([np.zeros((1,) + series.shape[1:]), np.cumsum(series, axis=0)])
    means = (cumulative[window:-1] - cumulative[:-window - 1]) / window
    return series[window:] - means


@dataclass
class NetworkIterates:
    """What :func:`train_fcn_iterates` returns for G networks (one per step size)."""

    etas: list
    layer_names: list          # "layers.0.weight", …
    layer_sizes: list          # parameters per layer
    coordinates: list          # per layer: the recorded flat indices
    recorded: list             # per layer: (record, G, m) float32 weights over the last iterations
    diverged: list             # per network: bool
    final_train_loss: list
    final_train_accuracy: list


def stacked_sgd_step(weights, train_x, train_y, batch, step_sizes, loss: str = "nll"):
    """One SGD step of G stacked FCNs in place: network g on the rows ``batch[g]`` (a (G, b) index tensor)
    with step ``step_sizes[g]`` (a (G,) tensor; 0 freezes a network). The loss and its gradient with
    respect to the outputs come from :data:`sgnoise.models.losses.LOSS_AND_DELTA` (per network), autograd does
    the rest. Returns the (G,) mini-batch losses before the step."""
    import torch

    from sgnoise.models.losses import LOSS_AND_DELTA

    try:
        loss_and_delta = LOSS_AND_DELTA[loss]
    except KeyError:
        raise ValueError(f"unknown loss {loss!r}; expected one of {', '.join(LOSS_AND_DELTA)}") from None
    outputs = stacked_fcn_forward(weights, train_x[batch])
    losses, delta = loss_and_delta(outputs.detach(), train_y[batch])
    gradients = torch.autograd.grad(outputs, weights, grad_outputs=delta)
    with torch.no_grad():
        scale = step_sizes.view(-1, 1, 1)
        for weight, gradient in zip(weights, gradients):
            weight.sub_(scale * gradient)
    return losses


def train_fcn_iterates(data: dict, model: dict, batch_size: int, etas, *, loss: str = "nll", iterations: int,
                       record: int, max_coords, seed=0, device="cpu") -> "NetworkIterates":
    """Plain SGD on G = len(etas) FCNs at once, network g with step etas[g], all from the same
    initialisation (:func:`sgnoise.models.build_model` after ``torch.manual_seed`` from ``seed``): one
    batched model (:func:`stacked_sgd_step`), each network drawing its own mini-batch of ``batch_size``
    training points at every step (uniformly and independently, with replacement). The weights of the
    last ``record`` iterations are kept, at most ``max_coords`` seeded coordinates per layer. A network
    whose loss becomes non-finite is frozen and flagged ``diverged``. Same seed → the same numbers (CPU)."""
    import torch

    from sgnoise.models.losses import get_loss
    from sgnoise.models import build_model

    if not 1 <= record <= iterations:
        raise ValueError(f"record must be in [1, iterations={iterations}], got {record}")
    loss_fn = get_loss(loss)
    train_x, train_y = data["train_x"].to(device), data["train_y"].to(device)
    n = train_x.shape[0]
    if batch_size > n:
        raise ValueError(f"batch size {batch_size} exceeds the {n} training points")
    sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    init_seed, batch_seed, coordinate_seed = (int(s) for s in sequence.generate_state(3, np.uint32))
    torch.manual_seed(init_seed)
    template = build_model(model, tuple(train_x.shape[1:]), data["num_classes"])
    names = [name for name, _ in template.named_parameters()]
    weights = [w.to(device).detach().requires_grad_(True) for w in stacked_fcn_weights([template] * len(etas))]
    g = len(etas)
    steps = torch.tensor([float(e) for e in etas], device=device)
    active = torch.ones(g, dtype=torch.bool, device=device)
    generator = torch.Generator(device=device).manual_seed(batch_seed)
    coordinate_rng = np.random.default_rng(coordinate_seed)
    coordinates = [coordinate_subset(w[0].numel(), max_coords, coordinate_rng) for w in weights]
    index_tensors = [torch.as_tensor(c, device=device) for c in coordinates]
    recorded = [np.empty((record, g, c.size), dtype=np.float32) for c in coordinates]
    first_recorded = iterations - record
    for iteration in range(iterations):
        batch = torch.randint(0, n, (g, batch_size), generator=generator, device=device)
        losses = stacked_sgd_step(weights, train_x, train_y, batch, steps * active, loss)
        finite = torch.isfinite(losses)
        if not bool(finite.all()):
            active &= finite
            with torch.no_grad():
                for weight in weights:
                    weight.nan_to_num_(0.0)  # a frozen network's weights are never used again
        if iteration >= first_recorded:
            with torch.no_grad():
                for layer, (weight, index) in enumerate(zip(weights, index_tensors)):
                    recorded[layer][iteration - first_recorded] = weight.reshape(g, -1)[:, index].cpu().numpy()
    with torch.no_grad():
        train_loss, train_accuracy = [], []
        for k in range(g):
            out = stacked_fcn_forward([w[k:k + 1] for w in weights], train_x.unsqueeze(0))[0]
            train_loss.append(float(loss_fn(out, train_y)))
            train_accuracy.append(float((out.argmax(dim=1) == train_y).float().mean()))
    diverged = [not bool(a) or not math.isfinite(l) for a, l in zip(active.tolist(), train_loss)]
    return NetworkIterates(list(map(float, etas)), names, [w[0].numel() for w in weights], coordinates, recorded,
                           diverged, train_loss, train_accuracy)


def mad_normalise(matrix: np.ndarray) -> np.ndarray:
    """Each column centred at its median and divided by its median absolute deviation (MAD); columns
    with MAD 0 (weights that did not move) dropped."""
    centre = np.median(matrix, axis=0)
    mad = np.median(np.abs(matrix - centre), axis=0)
    keep = mad > 0
    return (matrix[:, keep] - centre[keep]) / mad[keep]


def fluctuation_matrix(recorded_layer: np.ndarray, window: int, normalise: str = "mad") -> np.ndarray:
    """One network's layer, (record, m) weights → (record − window, m') fluctuations u = w − trailing
    running mean of ``window`` iterates, each coordinate MAD-normalised (``"mad"``, :func:`mad_normalise`)
    or left as is (``"none"``)."""
    if normalise not in ("mad", "none"):
        raise ValueError(f"normalise must be 'mad' or 'none', got {normalise!r}")
    u = running_mean_fluctuations(recorded_layer, window)
    return mad_normalise(u) if normalise == "mad" else u


def pooled_shuffled(matrix: np.ndarray, rng) -> np.ndarray:
    """All entries of ``matrix`` in a seeded random order. The block estimators sum K1 consecutive
    entries; in iteration-major order those are coordinates at one iteration, which move together (one
    mini-batch drives them all) and bias α̂ down (measured on an FCN: 1.47 instead of 1.94); shuffled,
    the blocks are as if drawn independently from the pooled law."""
    return np.random.default_rng(rng).permutation(np.asarray(matrix, dtype=np.float64).reshape(-1))


def batch_means_interval(matrix: np.ndarray, method: str, n_batches: int, level: float, rng, method_options=None):
    """Interval α̂ ± t_{B−1}·sd/√B from the estimates on B contiguous stretches of iterations (batch means):
    unlike the analytic interval it sees the dependence of successive iterates. Returns (low, high, sd)."""
    from scipy import stats as scipy_stats

    from sgnoise.tail import estimate_alpha_ci

    method_options = method_options or {}
    stretches = np.array_split(matrix, n_batches, axis=0)
    estimates = [estimate_alpha_ci(pooled_shuffled(part, rng), method, ci="none", **method_options.get(method, {})).alpha
                 for part in stretches]
    estimates = np.array([e for e in estimates if np.isfinite(e)])
    if estimates.size < 2:
        return math.nan, math.nan, math.nan
    spread = float(estimates.std(ddof=1))
    half = float(scipy_stats.t.ppf(0.5 + level / 2, estimates.size - 1)) * spread / math.sqrt(estimates.size)
    return half, half, spread


def fluctuation_alpha_rows(iterates: "NetworkIterates", *, window: int, methods=("mohammadi",), normalise="mad",
                           ci="batch_means", ci_batches: int = 5, level=0.95, method_options=None, seed=0) -> list[dict]:
    """α̂ of the weights' fluctuations per network (step size) and layer: the pooled, shuffled
    (:func:`pooled_shuffled`) fluctuation sample of the layer, with a ``level`` interval: ``batch_means``
    (default, :func:`batch_means_interval` over ``ci_batches`` stretches, centred on the whole-sample α̂)
    or any ``ci`` of :func:`sgnoise.tail.estimate_alpha_ci` (those treat the entries as independent)."""
    from sgnoise.tail import METHODS

    method_options = method_options or {}
    rows = []
    for k, eta in enumerate(iterates.etas):
        for layer, name in enumerate(iterates.layer_names):
            base = dict(eta=eta, layer=layer, layer_name=name, n_coordinates=int(iterates.coordinates[layer].size),
                        layer_size=int(iterates.layer_sizes[layer]), diverged=iterates.diverged[k],
                        final_train_loss=iterates.final_train_loss[k], final_train_accuracy=iterates.final_train_accuracy[k])
            matrix = None if iterates.diverged[k] else fluctuation_matrix(iterates.recorded[layer][:, k, :], window, normalise)
            for method in methods:
                rng = np.random.default_rng([int(seed), k, layer, METHODS.index(method)])
                if matrix is None or matrix.size < 8:
                    rows.append(dict(**base, method=method, alpha=math.nan, ci_low=math.nan, ci_high=math.nan,
                                     n_samples=0, ci_method=ci, note="diverged" if matrix is None else "weights did not move"))
                    continue
                if ci == "batch_means":
                    row = _estimate_row(pooled_shuffled(matrix, rng), method, "none", level, method_options)
                    below, above, _ = batch_means_interval(matrix, method, ci_batches, level, rng, method_options)
                    row.update(ci_low=max(row["alpha"] - below, 0.0), ci_high=row["alpha"] + above)
                else:
                    row = _estimate_row(pooled_shuffled(matrix, rng), method, ci, level, method_options)
                rows.append(dict(**base, method=method, ci_method=ci, **row))
    return rows


def network_study(data: dict, model: dict, settings: dict, seed: int = 0, log=None) -> pd.DataFrame:
    """The network part of ``iterates:`` for one FCN (``settings`` = the ``networks`` block): for every
    batch size, the step sizes trained together (:func:`train_fcn_iterates`), α̂ of the fluctuations per
    layer (:func:`fluctuation_alpha_rows`), with each network's final training loss and accuracy and the
    chance accuracy (1/classes), from which the figure decides which networks learned."""
    import pandas as pd

    from sgnoise.study.naming import model_tag

    tag = model_tag(model)
    frames = []
    for b in settings["batch_sizes"]:
        sequence = setting_seed(seed, "network", model=tag, batch_size=int(b))
        iterates = train_fcn_iterates(data, model, int(b), settings["etas"], loss=settings["loss"],
                                      iterations=settings["iterations"], record=settings["record"],
                                      max_coords=settings["max_coords"], seed=sequence, device=settings["device"])
        rows = fluctuation_alpha_rows(iterates, window=settings["running_mean"], methods=settings["methods"],
                                      normalise=settings["normalise"], ci=settings["ci"], ci_batches=settings["ci_batches"],
                                      level=settings["level"], seed=int(sequence.generate_state(1)[0]))
        frame = pd.DataFrame(rows)
        frame.insert(0, "batch_size", int(b))
        frame.insert(0, "model", tag)
        frame.insert(2, "eta_over_b", frame["eta"] / int(b))
        frame["chance_accuracy"] = 1.0 / data["num_classes"]
        frames.append(frame)
        if log:
            for k, eta in enumerate(iterates.etas):
                print(f"{tag} b={b} eta={eta:g}: final train accuracy {iterates.final_train_accuracy[k]:.3f}"
                      f"{' (diverged)' if iterates.diverged[k] else ''}", file=log, flush=True)
    table = pd.concat(frames, ignore_index=True)
    for key in ("depth", "width"):
        table[key] = model.get(key)
    table["loss"] = settings["loss"]
    table["iterations"] = settings["iterations"]
    return table


# ----------------------------------------------------------------------------- config


def check_iterates_config(settings: dict) -> dict:
    """What the schema cannot say about a (schema-filled) ``iterates:`` block; raises ValueError naming the
    key. Returns {"dims": [...], "networks": {model tag: model spec}}."""
    from sgnoise.study.naming import model_tag

    linear, networks = settings["linear"], settings["networks"]
    dims = []
    for index, case in enumerate(linear["cases"]):
        where = f"config iterates.linear.cases[{index}]"
        given = [key for key in ("alphas", "etas") if case.get(key) is not None]
        if len(given) != 1:
            raise ValueError(f"{where}: give exactly one of 'alphas' (theoretical tail indices) and 'etas' (step sizes), "
                             f"got {given or 'neither'}")
        if case["dim"] in dims:
            raise ValueError(f"{where}.dim: dim {case['dim']} appears in more than one case; list its batch sizes in one case")
        dims.append(case["dim"])
    low, high = linear["curve_alphas"]
    if not low < high:
        raise ValueError(f"config iterates.linear.curve_alphas: the first value must be below the second, got {[low, high]}")
    if not networks["record"] <= networks["iterations"]:
        raise ValueError(f"config iterates.networks.record={networks['record']} must not exceed "
                         f"iterations={networks['iterations']}")
    if not networks["running_mean"] < networks["record"]:
        raise ValueError(f"config iterates.networks.running_mean={networks['running_mean']} must be below "
                         f"record={networks['record']}")
    if networks["record"] - networks["running_mean"] < 2 * networks["ci_batches"]:
        raise ValueError(f"config iterates.networks: record − running_mean = {networks['record'] - networks['running_mean']} "
                         f"fluctuation rows are too few for ci_batches={networks['ci_batches']} (need 2 per batch)")
    tags = {}
    for index, spec in enumerate(networks["models"]):
        model = dict(model="fcn", depth=spec["depth"], width=spec["width"])
        tag = model_tag(model)
        if tag in tags:
            raise ValueError(f"config iterates.networks.models[{index}]: {tag} is listed twice")
        tags[tag] = model
    return dict(dims=dims, networks=tags)
