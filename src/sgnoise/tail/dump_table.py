"""A noise dump → tidy α tables: one row per checkpoint, estimator, view and layer (``COLUMNS``),
the per-coordinate α̂ (``PER_PARAMETER_COLUMNS``), the pooled estimate at every measured K1
(``K1_COLUMNS``) and the Hill-plot curves (``HILL_PLOT_COLUMNS``).

A checkpoint holds the K × M partition noise matrix (rows = disjoint mini-batches, columns =
stored coordinates) and optionally an R × M matrix of independently drawn mini-batches. Views
(``VIEWS``; docs/architecture.md, docs/science.md §6):

- ``pooled``: the paper's estimate: all P coordinates of every partition mini-batch, flattened in C
  order (parameter order within a mini-batch), contiguous K1-blocks; streamed in the noise pass
  (:mod:`sgnoise.tail.pooled`), read here from its statistics; ``mohammadi`` only;
- ``pooled_test``: the same over the test set's partition (``noise.test_set``);
- ``pooled_stored``: the pooled estimate of the *stored* columns only (a seeded subset when
  ``noise.max_coords`` < P): not the paper's number, kept for the other estimators;
- ``pooled_normalised``: the same after dividing each column by its median absolute deviation
  across rows (columns with MAD 0 are left out), so that scale differences cannot fake heavy tails;
- ``per_parameter``: α̂ of each column across its rows (the random matrix when stored, else the
  partition), summarised by the median and 10/90 % quantiles over coordinates;
- ``per_layer``: the pooled view within each layer.

Memory: a matrix whose working set (``BYTES_PER_ENTRY`` bytes per entry) fits ``memory_budget_mb``
is read whole and estimated in memory; a larger one is streamed (:mod:`sgnoise.tail.streaming`)
computing the same statistics, so the α̂ are identical either way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sgnoise.noise.dump import NoiseDump
from sgnoise.study.spec import DEFAULT_K1_GRID
from sgnoise.tail._columns import alpha_per_column
from sgnoise.tail._estimators import block_lengths
from sgnoise.tail._extreme import TOP_K, k_grid, tail_index_curves, top_count
from sgnoise.tail._intervals import AlphaEstimate
from sgnoise.tail._matrix import MatrixSource
from sgnoise.tail._per_column import (NULL_FIELDS, PooledNormality, column_mad, gaussian_null_matrix, median_interval,
                                      null_band, per_column_results)
from sgnoise.tail._samples import TOP_METHODS, prepare_sample
from sgnoise.tail._table_settings import (BLOCK_METHODS, COLUMNS, DEFAULT_MEMORY_BUDGET_MB, DEFAULT_NULL_COLUMNS,
                                          K1_COLUMNS, PER_PARAMETER_COLUMNS, STREAMED_VIEWS, VIEWS, _settings,
                                          mark_run_status, unestimated_alpha_table)
from sgnoise.tail.pooled_alpha import k1_table, normality_from_statistics, pooled_estimate
from sgnoise.tail.streaming import PooledGroup, pooled_results

__all__ = ["COLUMNS", "HILL_PLOT_COLUMNS", "K1_COLUMNS", "PER_PARAMETER_COLUMNS", "VIEWS", "alpha_table", "alpha_views",
           "block_columns", "checkpoint_rows", "hill_plot_table", "run_alpha_tables", "statistics_of_matrix",
           "streamed_pooled_rows"]


def _row(iteration, method, view, layer, estimate, n_entries, settings, **extra):
    row = dict(iteration=int(iteration), method=method, view=view, layer=layer, alpha=estimate.alpha,
               ci_low=estimate.ci_low, ci_high=estimate.ci_high, n_samples=int(estimate.n_samples),
               zero_fraction=1 - estimate.n_samples / n_entries if n_entries else np.nan, zeros=settings["zeros"],
               N=np.nan, K1=np.nan, k1_policy="",
               ci_method=estimate.ci_method, ci_level=settings["ci"]["level"], q10=np.nan, q90=np.nan,
               n_coordinates=0, n_minibatches=0, source="partition", normality_test=settings["normality"]["test"],
               normality_statistic=np.nan, normality_pvalue=np.nan, reject_fraction=np.nan, **dict.fromkeys(NULL_FIELDS, np.nan))
    row.update(extra)
    return row


def block_columns(method: str, n: int, settings) -> dict:
    """N, K1 and the K1 policy of an estimate from n samples (K1 only for the block estimators;
    NaN for a median over several K1 in the stored views, where no single K1 is used)."""
    if method not in BLOCK_METHODS:
        return dict(N=n, K1=np.nan, k1_policy="")
    option = settings["method_options"].get(method, {}).get("k1", "reference")
    policy = {str: "reference", int: "fixed"}.get(type(option), "median")
    k1 = np.nan
    if policy == "fixed":
        k1 = option
    elif policy == "reference" and n >= 4:
        k1 = block_lengths(n, "reference")[0]
    return dict(N=n, K1=k1, k1_policy=policy)


def streamed_pooled_rows(statistics: dict, iteration, view: str, zeros: str, settings, n_rows: int, normality: dict):
    """α-table rows (mohammadi only) and alpha_k1 records of the pooled statistics streamed in the noise pass;
    ``normality``: the row's normality_* fields, or None for the test of the pooled entries' power sums."""
    k1 = settings["k1"]
    estimate = pooled_estimate(statistics, settings["ci"], k1["policy"], k1["fixed"], k1["grid"])
    n_used, n_entries = int(statistics["n_used"]), int(statistics["n_entries"])
    if normality is None:
        statistic, pvalue = normality_from_statistics(statistics, settings["normality"]["test"])
        normality = dict(normality_statistic=float(statistic), normality_pvalue=float(pvalue))
    row = _row(iteration, "mohammadi", view, "", AlphaEstimate(estimate["alpha"], estimate["ci_low"], estimate["ci_high"],
                                                               estimate["ci_method"], n_used),
               n_entries, settings, N=n_used, K1=estimate["k1"], k1_policy=k1["policy"], zeros=zeros,
               n_coordinates=int(n_entries // max(n_rows, 1)), n_minibatches=n_rows, **normality)
    records = [dict(iteration=int(iteration), view=view, n_samples=n_used, k1_reference=int(statistics["k1_reference"]),
                    **record) for record in k1_table(statistics, settings["ci"])]
    return row, records


def statistics_of_matrix(source: MatrixSource, settings, zeros: str) -> dict:
    """Pooled statistics (sgnoise.tail.pooled) of a whole noise matrix, read row by row: the paper's pooled
    estimate of a matrix that holds every coordinate (a dump with noise.max_coords null, or a matrix given
    in memory), at the K1 grid of the noise pass."""
    import torch

    from sgnoise.tail.pooled import pooled_statistics

    n_rows = source.shape[0]
    grid = sorted(set(DEFAULT_K1_GRID) | set(settings["k1"]["grid"]) | {settings["k1"]["fixed"]})

    def rows():
        for r in range(n_rows):
            yield torch.from_numpy(np.ascontiguousarray(source.read(slice(r, r + 1), slice(None))[0]))
    return pooled_statistics(rows, n_rows, grid, zeros)


def checkpoint_rows(partition: MatrixSource, random: MatrixSource | None, column_layer, layer_names, column_index,
                    iteration, settings, streamed=None, streamed_zeros="exclude"):
    """Rows of the α table for one checkpoint, the per-coordinate α̂ records and the alpha_k1 records.

    ``streamed``: {"pooled": statistics, "pooled_test": statistics} streamed in the noise pass (either
    may be missing; the ``pooled`` view then has no row)."""
    rows, per_parameter, k1_records = [], [], []
    views, methods = settings["views"], settings["methods"]
    n_rows, n_columns = partition.shape
    all_columns = np.arange(n_columns)
    normality = PooledNormality(partition, settings)
    for view, name in STREAMED_VIEWS.items():
        statistics = (streamed or {}).get(name)
        if view in views and statistics is not None and "mohammadi" in methods:
            # the column omnibus of "pooled" uses the stored partition columns; the test set's partition is not stored
            columns = all_columns if view == "pooled" else all_columns[:0]
            # entries: the test of the streamed power sums (fields None); else the column omnibus
            fields = None if normality.kind == "entries" else normality.row_fields(columns)
            row, records = streamed_pooled_rows(statistics, iteration, view, streamed_zeros, settings,
                                                int(statistics["row_count"].shape[1]), fields)
            row["normality_test"] = normality.label
            rows.append(row)
            k1_records += records
    groups = []
    if "pooled_stored" in views:
        groups.append(PooledGroup("pooled_stored", "", all_columns))
    if "pooled_normalised" in views:
        scale = column_mad(partition, settings["zeros"], settings["max_entries"])
        usable = np.isfinite(scale) & (scale > 0)
        groups.append(PooledGroup("pooled_normalised", "", all_columns[usable], scale[usable]))
    if "per_layer" in views:
        for layer in np.unique(column_layer):
            groups.append(PooledGroup("per_layer", layer_names[layer], np.flatnonzero(column_layer == layer)))
    results = pooled_results(partition, groups, methods, settings["zeros"], settings["method_options"], settings["ci"],
                             normality.entries_settings, settings["max_entries"]) if groups else []
    for group, result in zip(groups, results):
        fields = normality.row_fields(group.columns, result.normality)
        for method in methods:
            rows.append(_row(iteration, method, group.view, group.layer, result.estimates[method], result.n_entries,
                             settings, n_coordinates=int(group.columns.size), n_minibatches=n_rows, **fields,
                             **block_columns(method, result.estimates[method].n_samples, settings)))
    if "per_parameter" in views:
        source_name = settings["per_parameter_source"]
        if source_name == "random" and random is None:
            raise ValueError(f"checkpoint {iteration} has no random mini-batch noise (noise_random) "
                             "but per_parameter_source='random'")
        use_random = random is not None and source_name in ("auto", "random")
        source = random if use_random else partition
        source_label = "random" if use_random else "partition"
        alphas, statistic, pvalue, _ = per_column_results(source, methods, settings["zeros"], settings["method_options"],
                                                                settings["normality"], settings["max_entries"])
        entries = source.shape[0] * source.shape[1]
        tested = ~np.isnan(pvalue)
        per_column_test = dict(normality_statistic=np.nan, normality_pvalue=np.nan, reject_fraction=np.nan)
        if tested.any():
            per_column_test = dict(normality_statistic=float(np.median(statistic[tested])),
                                   normality_pvalue=float(np.median(pvalue[tested])),
                                   reject_fraction=float(np.mean(pvalue[tested] < settings["normality"]["level"])))
        null_alphas = {}
        if settings["null_columns"] > 0:
            rng = np.random.default_rng([settings["ci"]["seed"], int(iteration)])
            gaussian = gaussian_null_matrix(source, settings["null_columns"], not use_random, rng)
            null_alphas = {method: alpha_per_column(gaussian, method, settings["zeros"], **settings["method_options"].get(method, {}))
                           for method in methods}
        for method in methods:
            values = alphas[method][~np.isnan(alphas[method])]
            how = "analytic" if settings["ci"]["method"] in ("auto", "analytic") else settings["ci"]["method"]
            if values.size:
                median, q10, q90 = np.quantile(values, [0.5, 0.1, 0.9], method="inverted_cdf")
                low, high = median_interval(values, settings["ci"], how)
            else:
                median = q10 = q90 = low = high = np.nan
            # n_samples: the R mini-batches each coordinate's α̂ is estimated from
            estimate = AlphaEstimate(float(median), low, high, how if values.size else "none", source.shape[0])
            per_coordinate = block_columns(method, source.shape[0], settings)
            band = null_band(values, null_alphas[method]) if method in null_alphas else {}
            rows.append(_row(iteration, method, "per_parameter", "", estimate, entries, settings, q10=float(q10), q90=float(q90),
                             **per_coordinate, n_coordinates=int(values.size), n_minibatches=source.shape[0],
                             source=source_label, **per_column_test, **band))
            if method in settings["per_parameter_methods"]:
                per_parameter.append(pd.DataFrame({"iteration": int(iteration), "method": method, "column": column_index,
                                                   "layer": np.asarray(layer_names, dtype=object)[column_layer],
                                                   "alpha": alphas[method], "source": source_label}))
    return rows, per_parameter, k1_records


def _frames(rows, per_parameter, k1_records, return_per_parameter, return_k1=False):
    table = pd.DataFrame(rows, columns=COLUMNS)
    out = [table]
    if return_per_parameter:
        side = pd.concat(per_parameter, ignore_index=True) if per_parameter else pd.DataFrame(columns=PER_PARAMETER_COLUMNS)
        out.append(side[PER_PARAMETER_COLUMNS])
    if return_k1:
        out.append(pd.DataFrame(k1_records, columns=K1_COLUMNS))
    return out[0] if len(out) == 1 else tuple(out)


def alpha_table(path, methods=("mohammadi",), views=("pooled",), zeros="exclude", method_options=None, ci=None,
                normality=None, memory_budget_mb=DEFAULT_MEMORY_BUDGET_MB, per_parameter_source="auto",
                return_per_parameter=False, per_parameter_methods=None, k1=None, return_k1=False,
                null_columns=DEFAULT_NULL_COLUMNS):
    """α for every checkpoint of the noise dump at ``path``, per method and view (docs/architecture.md).

    ``method_options``: {method: options for ``estimate_alpha``}; ``ci``: method ("auto",
    "analytic", "bootstrap", "none"), level, replicates, block_size ("row" = one mini-batch, or a
    number of samples), seed; ``normality``: test ("dagostino", "jarque_bera", "none"), level (for
    ``reject_fraction``); ``per_parameter_source``: "auto" (random mini-batches when stored, else
    the partition), "random" or "partition"; ``k1``: the K1 policy {policy: reference|fixed|median,
    fixed, grid} of the block estimators; ``null_columns``: Gaussian columns simulated for the
    per-parameter view's null band (0: none; see ``gaussian_null_matrix``). With ``return_per_parameter`` also returns the
    per-coordinate α̂ (columns ``PER_PARAMETER_COLUMNS``) of ``per_parameter_methods`` (default: all);
    with ``return_k1`` the streamed pooled estimate at every measured K1 (``K1_COLUMNS``).
    """
    settings = _settings(methods, views, zeros, method_options, ci, normality, memory_budget_mb, per_parameter_source,
                         per_parameter_methods, k1, null_columns)
    rows, per_parameter, k1_records = [], [], []
    with NoiseDump(path) as dump:
        column_layer, layer_names, column_index = dump.column_layer, dump.layer_names, dump.column_index
        config = dump.attrs.get("config") or {}
        streamed_zeros = config.get("pooled_zeros", "exclude") if isinstance(config, dict) else "exclude"
        complete_columns = len(column_index) == int(dump.attrs.get("n_params", -1))  # every coordinate stored
        for iteration in dump.iterations:
            partition = MatrixSource.from_dump(dump, iteration, "noise")
            random = MatrixSource.from_dump(dump, iteration, "noise_random") if dump.has_random_noise(iteration) else None
            streamed = {name: dump.pooled_statistics(iteration, name) for name in STREAMED_VIEWS.values()}
            if streamed["pooled"] is None and "pooled" in settings["views"] and complete_columns:
                streamed["pooled"] = statistics_of_matrix(partition, settings, streamed_zeros)
            new = checkpoint_rows(partition, random, column_layer, layer_names, column_index, iteration, settings,
                                  streamed, streamed_zeros)
            rows += new[0]
            per_parameter += new[1]
            k1_records += new[2]
    return _frames(rows, per_parameter, k1_records, return_per_parameter, return_k1)


def run_alpha_tables(path, status: dict, **options):
    """(α table, per-coordinate table, alpha_k1 table) of one run's dump, as ``rule alpha`` writes them:
    ``alpha_table`` of the dump when the run's ``status`` is "ok"; for a diverged run α is not
    estimated (its noise is not trusted) but every checkpoint gets its rows, empty, and the dump is
    still opened so that a corrupt one is reported. Every α row carries ``run_status`` and
    ``diverged_at`` (mark_run_status). ``options``: those of ``alpha_table``."""

    if status["status"] == "ok":
        alpha, per_parameter, alpha_k1 = alpha_table(path, return_per_parameter=True, return_k1=True, **options)
    else:
        with NoiseDump(path) as dump:
            iterations = dump.iterations
        alpha = unestimated_alpha_table(iterations, options.get("methods", ["mohammadi"]), options.get("views", ["pooled"]),
                                        COLUMNS)
        per_parameter = unestimated_alpha_table([], [], [], PER_PARAMETER_COLUMNS)
        alpha_k1 = unestimated_alpha_table([], [], [], K1_COLUMNS)
    return mark_run_status(alpha, status), per_parameter, alpha_k1


HILL_PLOT_COLUMNS = ["iteration", "method", "k", "alpha", "n_samples", "k_auto", "tail_fraction"]


def hill_plot_table(path, iteration=None, points: int = 60, zeros: str = "exclude") -> pd.DataFrame:
    """α̂ against k for Hill, the moment estimator and Pickands (``tail_index_curves``) on the
    pooled entries of the stored partition columns (the ``pooled_stored`` view's sample) of one
    checkpoint (default: the last) of the dump at ``path``: about ``points`` log-spaced k per method,
    with ``k_auto`` marking the k the α table uses (⌊n^0.6⌋, Pickands ⌊n^0.6/4⌋) and ``tail_fraction``
    = (entries read)/n (Hill, moment: k + 1; Pickands: 4k)."""
    with NoiseDump(path) as dump:
        iteration = dump.iterations[-1] if iteration is None else int(iteration)
        if iteration not in dump.iterations:
            raise ValueError(f"{path}: no checkpoint at iteration {iteration}; it has {dump.iterations}")
        sample = prepare_sample(dump.noise_array(iteration), zeros)
    n = sample.size
    ks = {method: k_grid(n, points, method) for method in TOP_METHODS}
    auto = {method: TOP_K[method](n) for method in TOP_METHODS}
    ks = {method: np.union1d(values, [auto[method]]) for method, values in ks.items()}
    curves = tail_index_curves(sample, ks, zeros="keep")
    frames = [pd.DataFrame({"iteration": iteration, "method": method, "k": ks[method], "alpha": curves[method],
                            "n_samples": n, "k_auto": ks[method] == auto[method],
                            "tail_fraction": [top_count(method, n, int(k)) / n for k in ks[method]]})
              for method in TOP_METHODS]
    return pd.concat(frames, ignore_index=True)[HILL_PLOT_COLUMNS]


def alpha_views(matrix, random_matrix=None, column_layer=None, layer_names=None, iteration=0, methods=("mohammadi",),
                views=("pooled",), zeros="exclude", method_options=None, ci=None, normality=None,
                memory_budget_mb=DEFAULT_MEMORY_BUDGET_MB, per_parameter_source="auto", return_per_parameter=False,
                per_parameter_methods=None, k1=None, pooled_statistics=None, pooled_zeros="exclude",
                null_columns=DEFAULT_NULL_COLUMNS):
    """``alpha_table`` for one noise matrix held in memory (mini-batches × coordinates); without
    ``column_layer`` all columns form one layer named "all". ``pooled_statistics``: {"pooled": ...,
    "pooled_test": ...} streamed in a noise pass (sgnoise.tail.pooled), for the streamed views."""
    settings = _settings(methods, views, zeros, method_options, ci, normality, memory_budget_mb, per_parameter_source,
                         per_parameter_methods, k1, null_columns)
    partition = MatrixSource.from_array(matrix)
    random = MatrixSource.from_array(random_matrix) if random_matrix is not None else None
    if random is not None and random.shape[1] != partition.shape[1]:
        raise ValueError(f"random_matrix has {random.shape[1]} columns, matrix has {partition.shape[1]}")
    n_columns = partition.shape[1]
    if column_layer is None:
        column_layer, layer_names = np.zeros(n_columns, dtype=np.int64), ["all"]
    column_layer = np.asarray(column_layer)
    if column_layer.shape != (n_columns,):
        raise ValueError(f"column_layer must have one entry per column ({n_columns}), got shape {column_layer.shape}")
    if layer_names is None:
        layer_names = [str(i) for i in range(int(column_layer.max()) + 1)]
    if pooled_statistics is None and "pooled" in settings["views"]:
        if settings["zeros"] == "keep" and not np.all(np.asarray(matrix) != 0):
            raise ValueError("noise matrix contains exact zeros and zeros='keep'; no estimator takes log|0| "
                             "(use zeros='exclude')")
        pooled_statistics = {"pooled": statistics_of_matrix(partition, settings, pooled_zeros)}
    rows, per_parameter, k1_records = checkpoint_rows(partition, random, column_layer, list(layer_names),
                                                      np.arange(n_columns), iteration, settings, pooled_statistics,
                                                      pooled_zeros)
    return _frames(rows, per_parameter, k1_records, return_per_parameter)
