"""α̂ of SGD iterates with the estimators of :mod:`sgnoise.tail`: per coordinate and of the norm of the
linear chains' stationary iterates, their per-setting summary, and the per-layer fluctuations of network weights
around a trailing running mean (pooled, shuffled, with a batch-means interval)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from sgnoise.iterates._network import NetworkIterates

# pandas, scipy and sgnoise.tail are imported where used (see the package docstring).


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


def running_mean_fluctuations(series: np.ndarray, window: int) -> np.ndarray:
    """u_t = w_t − mean(w_{t−window}, …, w_{t−1}) for t = window … T−1, along axis 0 of a (T, …) array
    (the trailing running mean of the previous ``window`` recorded iterates)."""
    series = np.asarray(series, dtype=np.float64)
    if not 1 <= window < series.shape[0]:
        raise ValueError(f"running-mean window must be in [1, {series.shape[0] - 1}] for {series.shape[0]} iterates, got {window}")
    cumulative = np.concatenate([np.zeros((1,) + series.shape[1:]), np.cumsum(series, axis=0)])
    means = (cumulative[window:-1] - cumulative[:-window - 1]) / window
    return series[window:] - means


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
