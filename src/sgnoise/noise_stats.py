"""Summaries of a noise matrix for the paper's Fig. 1 kind and for coordinate-level checks.

- noise norms ‖U_k‖ of the K mini-batch noise vectors against norms of Gaussian vectors with the
  same per-coordinate variances, N(0, diag(σ̂_j²)) (what the Gaussian-noise model predicts);
- an SαS fit of the pooled coordinates: α̂ from the tail estimator and the scale from the
  log-moment identity E log|X| = log σ + γ_E (1/α − 1) (Zolotarev 1986), for SαS with
  characteristic function exp(−|σu|^α).
"""

from __future__ import annotations

import numpy as np

EULER_GAMMA = 0.5772156649015329


def noise_norms(noise: np.ndarray) -> np.ndarray:
    """Euclidean norm of each row (mini-batch) of the K × M noise matrix."""
    return np.linalg.norm(np.asarray(noise, dtype=np.float64), axis=1)


def gaussian_reference_norms(noise: np.ndarray, n_vectors: int, rng: np.random.Generator) -> np.ndarray:
    """Norms of ``n_vectors`` draws of N(0, diag(v)), v_j the variance of column j across the rows."""
    variances = np.var(np.asarray(noise, dtype=np.float64), axis=0, ddof=1)
    draws = rng.standard_normal((n_vectors, variances.size)) * np.sqrt(variances)
    return np.linalg.norm(draws, axis=1)


def sas_scale_from_log_moment(x: np.ndarray, alpha: float) -> float:
    """Scale σ of SαS samples ``x`` given α, from E log|X| = log σ + γ_E (1/α − 1); zeros dropped."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    x = x[x != 0]
    return float(np.exp(np.mean(np.log(np.abs(x))) - EULER_GAMMA * (1.0 / alpha - 1.0)))


def coordinate_sample(noise: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A seeded uniform subsample (without replacement) of the non-zero entries of the noise matrix."""
    values = np.asarray(noise).reshape(-1)
    values = values[values != 0]
    if values.size <= size:
        return values.copy()
    return values[np.sort(rng.choice(values.size, size=size, replace=False))]
