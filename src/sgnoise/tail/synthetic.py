"""Synthetic checks of the tail-index estimators, as tidy tables.

- ``estimator_validation``: α̂ of every method on SαS(α) samples drawn with
  ``scipy.stats.levy_stable`` (Chambers–Mallows–Stuck; independent of ``sgnoise.sde.levy``), for a
  grid of true α and sample sizes; ``validation_summary`` turns it into bias and RMSE.
- ``scale_mixture``: Gaussian noise whose columns have log-normal scales, seen through the
  pooled, scale-normalised and per-parameter views: pooling alone fakes heavy tails (docs/science.md §6);
- ``calibration_study``: coverage of every estimator's default interval on SαS matrices (i.i.d. and
  zero-sum partition rows), size and power of the reported Gaussianity tests, and controls outside
  the stable family (Student t, Laplace).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from sgnoise import tail
from sgnoise.study.config import method_options_from_config
from sgnoise.tail.dump_table import alpha_views

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
        table = alpha_views(matrix, methods=methods, views=("pooled", "pooled_normalised", "per_parameter"),
                            method_options=method_options, normality={"test": "none"})
        table.insert(0, "log_scale_sd", float(sd))
        frames.append(table)
    return pd.concat(frames, ignore_index=True)[MIXTURE_COLUMNS]


# ----------------------------------------------------------------------------- calibration study

CALIBRATION_COLUMNS = ["study", "sample", "method", "truth", "replicates", "n_rows", "n_columns", "rate", "nominal",
                       "mean_estimate", "sd_estimate", "mean_width"]
DEFAULT_CALIBRATION_ALPHAS = (1.2, 1.5, 1.8, 2.0)
DEFAULT_CONTROLS = ("t1.5", "t3", "laplace")
GAUSSIANITY_TESTS = ("column_omnibus", "dagostino_per_coordinate", "jarque_bera_per_coordinate", "dagostino_entries")


def control_sample(name: str, shape, rng) -> tuple[np.ndarray, float]:
    """Finite- and infinite-variance controls outside the stable family, with the answer a stable-domain
    estimator should give: Student t_ν (tail index ν; as a stable-domain index min(ν, 2)) and Laplace
    (all moments finite: 2)."""
    if name == "laplace":
        return rng.laplace(size=shape), 2.0
    if name.startswith("t"):
        nu = float(name[1:])
        return rng.standard_t(nu, size=shape), min(nu, 2.0)
    raise ValueError(f"unknown control {name!r}; expected laplace or t<ν>, e.g. t1.5")


def _partition_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows of a zero-sum partition: each column minus its mean over the rows (as partition noise is)."""
    return matrix - matrix.mean(axis=0)


def _estimate_rows(study, sample, truth, estimates, n_rows, n_columns, level):
    rows = []
    for method, values in estimates.items():
        alpha_hat, low, high = (np.array(v, dtype=float) for v in zip(*values))
        finite = np.isfinite(alpha_hat)
        covered = (low <= truth) & (truth <= high)
        rows.append(dict(study=study, sample=sample, method=method, truth=truth, replicates=len(values), n_rows=n_rows,
                         n_columns=n_columns, rate=float(np.mean(covered)), nominal=level,
                         mean_estimate=float(np.mean(alpha_hat[finite])) if finite.any() else np.nan,
                         sd_estimate=float(np.std(alpha_hat[finite], ddof=1)) if finite.sum() > 1 else np.nan,
                         mean_width=float(np.nanmean(np.where(np.isfinite(high - low), high - low, np.nan)))
                         if np.isfinite(high - low).any() else np.nan))
    return rows


POOLED_METHOD = "pooled_two_way"  # the streamed all-P estimate with its default interval, in the calibration table


def _streamed_estimate(matrix: np.ndarray, level: float):
    """(α̂, low, high) of the paper's pooled estimate of ``matrix`` streamed row by row as in the
    noise pass (reference K1) with the pooled view's default interval (``auto``: two-way clusters)."""
    from sgnoise.tail import pooled

    statistics = pooled.pooled_statistics(lambda: iter(matrix), matrix.shape[0], k1_grid=(), expected_used=matrix.size)
    estimate = pooled.pooled_estimate(statistics, {"method": "auto", "level": level, "replicates": 0, "seed": 0})
    return estimate["alpha"], estimate["ci_low"], estimate["ci_high"]


def gaussianity_rejections(matrix: np.ndarray, level: float) -> dict:
    """Rejection (0/1, or the rejected share of coordinates for the per-coordinate tests) of every
    Gaussianity test the α table reports, on one noise matrix (rows × coordinates)."""
    column = tail.column_omnibus(*tail.column_moments(matrix))[1]
    out = {"column_omnibus": float(column < level), "dagostino_entries": float(tail.normality_test(matrix)[1] < level)}
    for test in tail.NORMALITY_TESTS:
        pvalues = tail.normality_per_column(matrix, test)[1]
        out[f"{test}_per_coordinate"] = float(np.mean(pvalues[np.isfinite(pvalues)] < level))
    return out


def calibration_study(alphas=DEFAULT_CALIBRATION_ALPHAS, methods=tail.METHODS, replicates: int = 200, n_rows: int = 40,
                      n_columns: int = 250, controls=DEFAULT_CONTROLS, test_columns: int = 1000, log_scale_sd: float = 1.5,
                      power_alpha: float = 1.8, level: float = 0.95, test_level: float = 0.05, seed: int = 0,
                      method_options=None, pooled_columns: int = 0, pooled_replicates: int | None = None) -> pd.DataFrame:
    """Calibration of the intervals and of the Gaussianity tests (columns ``CALIBRATION_COLUMNS``).

    - ``coverage``: share of ``replicates`` seeded n_rows × n_columns SαS(α) matrices whose default
      (``auto``) ``level`` interval of each method contains α; ``sample`` iid (the entries i.i.d.) or
      partition (each column centred over its rows, as the rows of a zero-sum partition are: still
      SαS(α) marginally, but the entries of a column share its mean); with ``pooled_columns`` also
      method ``POOLED_METHOD``: the paper's estimate streamed as in the noise pass
      (sgnoise.tail.pooled, reference K1) with its default interval (two-way clusters of rows and column
      windows) on n_rows × pooled_columns matrices, ``pooled_replicates`` of them (default
      ``replicates``);
    - ``size`` / ``power``: rejection rate at ``test_level`` of each reported Gaussianity test
      (``GAUSSIANITY_TESTS``) on n_rows × ``test_columns`` partition matrices of Gaussian columns with
      log-normal scales (sd ``log_scale_sd``), resp. of SαS(``power_alpha``) columns; for the
      per-coordinate tests the rate is the mean share of rejected coordinates;
    - ``control``: each method on Student t_ν and Laplace matrices, ``truth`` the stable-domain answer
      min(ν, 2) resp. 2 (``rate`` = coverage of it), so a finite-variance heavy tail shows as what it
      is: an estimate near 2 from the stable-domain estimators, near ν from the extreme-value ones.
    Replicate r of a case draws from ``np.random.default_rng([seed, case, r])``: same seed → same table.
    """
    alphas = _check_sequence("alphas", alphas, (int, float), 0.1, 2.0)
    methods = list(methods)
    for method in methods:
        tail.check_method(method)
    for name, value, smallest in (("replicates", replicates, 2), ("n_rows", n_rows, 8), ("n_columns", n_columns, 1),
                                  ("test_columns", test_columns, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < smallest:
            raise ValueError(f"{name} must be an int of at least {smallest}, got {value!r}")
    method_options = method_options or {}
    shape = (n_rows, n_columns)

    def estimates_of(draw, case):
        out = {method: [] for method in methods}
        for replicate in range(replicates):
            matrix = draw(np.random.default_rng([seed, case, replicate]))
            for method in methods:
                estimate = tail.estimate_alpha_ci(matrix, method, level=level, **method_options.get(method, {}))
                out[method].append((estimate.alpha, estimate.ci_low, estimate.ci_high))
        return out

    rows, case = [], 0
    for alpha in alphas:
        for sample, transform in (("iid", lambda m: m), ("partition", _partition_rows)):
            case += 1
            draw = lambda rng, a=alpha, f=transform: f(sas_sample(a, shape, rng))  # noqa: E731
            rows += _estimate_rows("coverage", sample, float(alpha), estimates_of(draw, case), n_rows, n_columns, level)
            if pooled_columns:
                draw = lambda rng, a=alpha, f=transform: f(sas_sample(a, (n_rows, pooled_columns), rng))  # noqa: E731
                estimates = {POOLED_METHOD: [_streamed_estimate(draw(np.random.default_rng([seed, case, replicate, 1])), level)
                                             for replicate in range(pooled_replicates or replicates)]}
                rows += _estimate_rows("coverage", sample, float(alpha), estimates, n_rows, pooled_columns, level)
    for name in controls:
        case += 1
        truth = control_sample(name, (1, 1), np.random.default_rng(0))[1]
        draw = lambda rng, n=name: control_sample(n, shape, rng)[0]  # noqa: E731
        rows += _estimate_rows("control", name, truth, estimates_of(draw, case), n_rows, n_columns, level)
    for study, sample, draw in (
            ("size", "gaussian", lambda rng: scale_mixture_matrix(log_scale_sd, n_rows, test_columns, rng)),
            ("power", f"sas{power_alpha:g}", lambda rng: sas_sample(power_alpha, (n_rows, test_columns), rng))):
        case += 1
        rejections = [gaussianity_rejections(_partition_rows(draw(np.random.default_rng([seed, case, r]))), test_level)
                      for r in range(replicates)]
        for test in GAUSSIANITY_TESTS:
            rate = float(np.mean([r[test] for r in rejections]))
            rows.append(dict(study=study, sample=sample, method=test, truth=2.0 if study == "size" else power_alpha,
                             replicates=replicates, n_rows=n_rows, n_columns=test_columns, rate=rate, nominal=test_level,
                             mean_estimate=np.nan, sd_estimate=np.nan, mean_width=np.nan))
    return pd.DataFrame(rows, columns=CALIBRATION_COLUMNS)


def validation_tables(settings: dict, method_options: dict | None = None) -> dict:
    """Rule tail_validation's tables from the config's ``alpha.validation`` block: ``samples``
    (estimator_validation), ``summary`` (its bias and RMSE) and ``scale_mixture``."""
    options, mixture = method_options_from_config(method_options), settings["scale_mixture"]
    samples = estimator_validation(alphas=settings["alphas"], sizes=settings["sizes"], methods=settings["methods"],
                                   repeats=settings["repeats"], seed=settings["seed"], method_options=options)
    mixed = scale_mixture(log_scale_sds=mixture["log_scale_sds"], n_minibatches=mixture["n_minibatches"],
                          n_coordinates=mixture["n_coordinates"], methods=mixture["methods"], seed=mixture["seed"],
                          method_options=options)
    return {"samples": samples, "summary": validation_summary(samples), "scale_mixture": mixed}


def calibration_table(settings: dict, method_options: dict | None = None) -> pd.DataFrame:
    """Rule estimator_calibration_table's table: calibration_study with the config's ``alpha.validation``
    block (its ``calibration`` sub-block; null ``methods`` = the validation's methods)."""
    calibration = settings["calibration"]
    return calibration_study(
        alphas=calibration["alphas"], methods=calibration["methods"] or settings["methods"],
        replicates=calibration["replicates"], n_rows=calibration["n_rows"], n_columns=calibration["n_columns"],
        controls=calibration["controls"], test_columns=calibration["test_columns"], seed=calibration["seed"],
        pooled_columns=calibration["pooled_columns"], pooled_replicates=calibration["pooled_replicates"],
        method_options=method_options_from_config(method_options))
