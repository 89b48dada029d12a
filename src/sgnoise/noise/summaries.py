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


def summarise_dump(path, seed: int = 0, n_coordinates: int = 20000, alpha_method: str = "mohammadi"):
    """Tidy summaries of a noise dump for the norm and coordinate figures.

    Returns (norms, coordinates, fits): ``norms`` has one row per checkpoint, mini-batch and kind
    (``noise`` or ``gaussian`` reference); ``coordinates`` a seeded sample of non-zero noise entries
    at the first and last checkpoint; ``fits`` per checkpoint α̂, SαS scale and Gaussian sd.
    """
    import pandas as pd

    from sgnoise.noise.dump import NoiseDump
    from sgnoise.tail import estimate_alpha, minimum_samples

    rng = np.random.default_rng(seed)
    norms, coordinates, fits = [], [], []
    with NoiseDump(path) as dump:
        iterations = dump.iterations
        for iteration in iterations:
            noise = dump.noise_array(iteration)
            # norms over the most mini-batches stored: the R random ones when present, else the K disjoint ones
            rows = dump.read(iteration, "noise_random") if dump.has_random_noise(iteration) else noise
            observed = noise_norms(rows)
            reference = gaussian_reference_norms(rows, max(len(observed), 1000), rng)
            norms.append(pd.DataFrame(dict(iteration=iteration, kind="noise", minibatch=np.arange(len(observed)), norm=observed)))
            norms.append(pd.DataFrame(dict(iteration=iteration, kind="gaussian", minibatch=np.arange(len(reference)), norm=reference)))
            nonzero = noise[noise != 0].astype(np.float64)
            if nonzero.size >= minimum_samples(alpha_method):
                alpha = estimate_alpha(noise, method=alpha_method)
                scale = sas_scale_from_log_moment(nonzero, min(alpha, 2.0))
            else:  # (almost) all-zero noise, e.g. a perfectly fitted hinge run: nothing to fit
                alpha = scale = np.nan
            fits.append(dict(iteration=iteration, alpha=alpha, sas_scale=scale,
                             gaussian_sd=float(np.std(nonzero)) if nonzero.size else np.nan, n=int(nonzero.size)))
            if iteration in (iterations[0], iterations[-1]):
                coordinates.append(pd.DataFrame(dict(iteration=iteration, value=coordinate_sample(noise, n_coordinates, rng))))
    return (pd.concat(norms, ignore_index=True), pd.concat(coordinates, ignore_index=True),
            pd.DataFrame(fits))
