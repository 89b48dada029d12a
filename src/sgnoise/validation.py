"""Synthetic checks of the tail-index estimators, as tidy tables.

- ``estimator_validation``: α̂ of every method on SαS(α) samples drawn with
  ``scipy.stats.levy_stable`` (Chambers–Mallows–Stuck; independent of ``sgnoise.stable``), for a
  grid of true α and sample sizes; ``validation_summary`` turns it into bias and RMSE.
- ``scale_mixture``: Gaussian noise whose columns have log-normal scales, seen through the
  pooled, scale-normalised and per-parameter views: pooling alone fakes heavy tails (PAPER.md §6).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from sgnoise import tail, views

DEFAULT_ALPHAS = (0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0)
DEFAULT_SIZES = (10**3, 10**4, 10**5, 10**6)
DEFAULT_LOG_SCALE_SDS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
VALIDATION_COLUMNS = ["alpha", "n_samples", "method", "repeat", "alpha_hat"]
SUMMARY_COLUMNS = ["method", "alpha", "n_samples", "bias", "rmse", "sd", "n_repeats", "n_infinite"]
MIXTURE_COLUMNS = ["log_scale_sd", "method", "view", "alpha", "ci_low", "ci_high", "q10", "q90"]


def _check_sequence(name, values, kind, low=None, high=None):
    values = list(values) if np.ndim(values) else [values]
    if not values:
        raise ValueError(f"{name} must not be empty")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, kind):
            raise TypeError(f"{name} must contain {kind.__name__ if isinstance(kind, type) else 'numbers'}, got {value!r}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"{name} must lie in [{low}, {high}], got {value!r}")
    return values


def sas_sample(alpha: float, size: int, rng) -> np.ndarray:
    """SαS(α, 1) samples (characteristic function exp(−|u|^α); α = 2 is N(0, 2)) from scipy."""
    return scipy_stats.levy_stable.rvs(alpha, 0.0, size=size, random_state=rng)


def estimator_validation(alphas=DEFAULT_ALPHAS, sizes=DEFAULT_SIZES, methods=tail.METHODS, repeats: int = 10,
                         seed: int = 0, method_options=None) -> pd.DataFrame:
    """α̂ of each method on ``repeats`` SαS draws per true α and sample size (columns VALIDATION_COLUMNS).

    Each (α, repeat) draws max(sizes) samples from ``np.random.default_rng([seed, i, repeat])``; smaller
    sizes use its leading samples, so sizes are nested within a draw. Same seed → same table.
    """
    alphas = _check_sequence("alphas", alphas, (int, float), 0.1, 2.0)
    sizes = sorted(_check_sequence("sizes", sizes, (int, np.integer), 16))
    methods = list(methods)
    for method in methods:
        tail.check_method(method)
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise ValueError(f"repeats must be a positive int, got {repeats!r}")
    method_options = method_options or {}
    rows = []
    for index, alpha in enumerate(alphas):
        for repeat in range(repeats):
            sample = sas_sample(alpha, sizes[-1], np.random.default_rng([seed, index, repeat]))
            for size in sizes:
                for method in methods:
                    estimate = tail.estimate_alpha(sample[:size], method, **method_options.get(method, {}))
                    rows.append((float(alpha), int(size), method, repeat, estimate))
    return pd.DataFrame(rows, columns=VALIDATION_COLUMNS)


def validation_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Bias = mean(α̂ − α), RMSE = √mean((α̂ − α)²) and sd of α̂ per (method, α, n), over the finite
    estimates; ``n_infinite`` counts estimates of +inf (1/α̂ ≤ 0)."""
    missing = set(VALIDATION_COLUMNS) - set(frame.columns)
    if missing:
        raise ValueError(f"validation table lacks columns {sorted(missing)}")
    rows = []
    for (method, alpha, size), group in frame.groupby(["method", "alpha", "n_samples"], sort=True):
        values = group["alpha_hat"].to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        error = finite - alpha
        rows.append((method, alpha, size, error.mean() if finite.size else np.nan,
                     np.sqrt(np.mean(error**2)) if finite.size else np.nan,
                     finite.std(ddof=1) if finite.size > 1 else np.nan, values.size, int(np.sum(np.isinf(values)))))
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def scale_mixture_matrix(log_scale_sd: float, n_minibatches: int, n_coordinates: int, rng) -> np.ndarray:
    """Gaussian noise matrix: entry (i, j) = Z_ij · exp(log_scale_sd · G_j), Z and G iid N(0, 1)."""
    scales = np.exp(log_scale_sd * rng.standard_normal(n_coordinates))
    return rng.standard_normal((n_minibatches, n_coordinates)) * scales


def scale_mixture(log_scale_sds=DEFAULT_LOG_SCALE_SDS, n_minibatches: int = 600, n_coordinates: int = 5000,
                  methods=("mohammadi",), seed: int = 0, method_options=None) -> pd.DataFrame:
    """α̂ of Gaussian scale mixtures (``scale_mixture_matrix``) in the pooled, pooled_normalised and
    per_parameter views (columns MIXTURE_COLUMNS). Every entry is Gaussian, so α = 2 is the truth."""
    sds = _check_sequence("log_scale_sds", log_scale_sds, (int, float), 0.0)
    for name, value in (("n_minibatches", n_minibatches), ("n_coordinates", n_coordinates)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 8:
            raise ValueError(f"{name} must be an int of at least 8, got {value!r}")
    frames = []
    for index, sd in enumerate(sds):
        matrix = scale_mixture_matrix(sd, n_minibatches, n_coordinates, np.random.default_rng([seed, index]))
        table = views.alpha_views(matrix, methods=methods, views=("pooled", "pooled_normalised", "per_parameter"),
                                  method_options=method_options, normality={"test": "none"})
        table.insert(0, "log_scale_sd", float(sd))
        frames.append(table)
    return pd.concat(frames, ignore_index=True)[MIXTURE_COLUMNS]
