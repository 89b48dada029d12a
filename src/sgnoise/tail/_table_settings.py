"""The α table's layout (views, columns, defaults) and the validation of ``alpha_table``'s options
into the settings every view uses.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sgnoise.tail._matrix import max_block_entries
from sgnoise.tail._samples import CI_METHODS, NORMALITY_TESTS, ZERO_POLICIES, check_method

VIEWS = ("pooled", "pooled_test", "pooled_stored", "pooled_normalised", "per_parameter", "per_layer")
STREAMED_VIEWS = {"pooled": "pooled", "pooled_test": "pooled_test"}  # view → statistics group of the dump
SOURCES = ("auto", "random", "partition")
COLUMNS = ["iteration", "method", "view", "layer", "alpha", "ci_low", "ci_high", "n_samples", "N", "K1", "k1_policy",
           "zero_fraction", "zeros",
           "ci_method", "ci_level", "q10", "q90", "n_coordinates", "n_minibatches", "source",
           "normality_test", "normality_statistic", "normality_pvalue", "reject_fraction",
           "null_median", "null_q05", "null_q10", "null_q90", "excess_fraction"]
DEFAULT_NULL_COLUMNS = 2000
PER_PARAMETER_COLUMNS = ["iteration", "method", "column", "layer", "alpha", "source"]
K1_COLUMNS = ["iteration", "view", "k1", "alpha", "ci_low", "ci_high", "ci_method", "n_samples", "n_blocks", "k1_reference"]
DEFAULT_K1 = {"policy": "reference", "fixed": 1000, "grid": [2, 5, 10, 20, 50, 100, 500, 1000]}
BLOCK_METHODS = ("mohammadi", "mohammadi_order")
DEFAULT_CI = {"method": "auto", "level": 0.95, "replicates": 200, "block_size": "row", "seed": 0}
DEFAULT_NORMALITY = {"test": "dagostino", "level": 0.01, "pooled": "columns"}
POOLED_NORMALITY = ("columns", "entries")  # the pooled views' test: column omnibus | the pooled entries' own
DEFAULT_MEMORY_BUDGET_MB = 2048


def k1_option(k1: dict):
    """The ``k1`` option of ``sgnoise.tail`` that a K1 policy means: "reference", an int, or a list."""
    return {"reference": "reference", "fixed": int(k1["fixed"]), "median": [int(k) for k in k1["grid"]]}[k1["policy"]]


def _settings(methods, views, zeros, method_options, ci, normality, memory_budget_mb, per_parameter_source,
              per_parameter_methods=None, k1=None, null_columns=DEFAULT_NULL_COLUMNS):
    methods, views = list(methods), list(views)
    if not methods:
        raise ValueError("methods must name at least one estimator")
    for method in methods:
        check_method(method)
    for view in views:
        if view not in VIEWS:
            raise ValueError(f"unknown view {view!r}; expected one of {', '.join(VIEWS)}")
    if zeros not in ZERO_POLICIES:
        raise ValueError(f"unknown zeros policy {zeros!r}; expected one of {', '.join(ZERO_POLICIES)}")
    per_parameter_methods = methods if per_parameter_methods is None else list(per_parameter_methods)
    if not set(per_parameter_methods) <= set(methods):
        raise ValueError(f"per_parameter_methods {per_parameter_methods} must be among the methods {methods}")
    if per_parameter_source not in SOURCES:
        raise ValueError(f"unknown per_parameter_source {per_parameter_source!r}; expected one of {', '.join(SOURCES)}")
    method_options = {name: dict(options) for name, options in (method_options or {}).items()}
    for name in method_options:
        check_method(name)
    k1 = _merge("k1", DEFAULT_K1, k1)
    if k1["policy"] not in ("reference", "fixed", "median"):
        raise ValueError(f"unknown K1 policy {k1['policy']!r}; expected one of reference, fixed, median")
    for name in BLOCK_METHODS:
        method_options.setdefault(name, {}).setdefault("k1", k1_option(k1))
    ci = _merge("ci", DEFAULT_CI, ci)
    if ci["method"] not in CI_METHODS:
        raise ValueError(f"unknown ci method {ci['method']!r}; expected one of {', '.join(CI_METHODS)}")
    if not (ci["block_size"] == "row" or (isinstance(ci["block_size"], int) and ci["block_size"] >= 1)):
        raise ValueError(f"ci block_size must be 'row' or a positive int, got {ci['block_size']!r}")
    for key, valid in (("level", 0 < ci["level"] < 1), ("seed", isinstance(ci["seed"], int) and ci["seed"] >= 0),
                       ("replicates", isinstance(ci["replicates"], int) and ci["replicates"] >= 2)):
        if not valid:
            raise ValueError(f"ci {key} is out of range: {ci[key]!r} (level in (0, 1), seed ≥ 0, replicates ≥ 2)")
    normality = _merge("normality", DEFAULT_NORMALITY, normality)
    if not 0 < normality["level"] < 1:
        raise ValueError(f"normality level must be in (0, 1), got {normality['level']!r}")
    if normality["test"] not in (*NORMALITY_TESTS, "none"):
        raise ValueError(f"unknown normality test {normality['test']!r}; expected one of {', '.join(NORMALITY_TESTS)}, none")
    if normality["pooled"] not in POOLED_NORMALITY:
        raise ValueError(f"unknown normality pooled {normality['pooled']!r}; expected one of {', '.join(POOLED_NORMALITY)}")
    if isinstance(null_columns, bool) or not isinstance(null_columns, (int, np.integer)) or null_columns < 0:
        raise ValueError(f"null_columns must be an int ≥ 0 (0: no null band), got {null_columns!r}")
    return dict(methods=methods, views=views, zeros=zeros, method_options=method_options, ci=ci, normality=normality, k1=k1,
                null_columns=int(null_columns),
                max_entries=max_block_entries(memory_budget_mb), per_parameter_source=per_parameter_source,
                per_parameter_methods=per_parameter_methods)


def _merge(name, defaults, given):
    given = dict(given or {})
    unknown = set(given) - set(defaults)
    if unknown:
        raise ValueError(f"unknown {name} option(s) {sorted(unknown)}; expected some of {sorted(defaults)}")
    return {**defaults, **given}


def unestimated_alpha_table(iterations, methods, views, columns) -> pd.DataFrame:
    """Rows (iteration × method × view) with α and every estimate left empty (NaN): the α table of a
    run whose noise is not trusted (it diverged), so every figure shows the run as missing."""
    rows = [dict(iteration=int(i), method=m, view=v, layer="") for i in iterations for m in methods for v in views]
    return pd.DataFrame(rows, columns=list(columns))


def mark_run_status(alpha: pd.DataFrame, status: dict) -> pd.DataFrame:
    """``alpha`` with the run's training outcome on every row: ``run_status`` ("ok" or "diverged")
    and ``diverged_at`` (the iteration whose loss was not finite, empty if none)."""
    alpha = alpha.copy()
    alpha["run_status"] = status["status"]
    alpha["diverged_at"] = pd.array([status.get("diverged_at")] * len(alpha), dtype="Int64")
    return alpha
