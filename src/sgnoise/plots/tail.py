"""Tail-index figures: the views side by side (the critique figure), per-parameter α̂ histograms,
and the estimator validation (bias, RMSE, scale-mixture demonstration). Each takes tidy tables."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from sgnoise.plots.common import set_style

VIEW_ORDER = ("pooled", "pooled_normalised", "per_parameter", "per_layer")
VIEW_LABELS = {"pooled": "pooled (paper)", "pooled_normalised": "pooled, MAD-normalised",
               "per_parameter": "per parameter (median, 10–90 %)", "per_layer": "per layer (pooled)"}
METHOD_ORDER = ("mohammadi", "mohammadi_order", "hill", "mcculloch")


def _view_colours():
    return dict(zip(VIEW_ORDER, sns.color_palette("colorblind", len(VIEW_ORDER))))


def _require(frame: pd.DataFrame, columns, name):
    missing = set(columns) - set(frame.columns)
    if missing:
        raise ValueError(f"{name} lacks columns {sorted(missing)}")


def _runs(frame: pd.DataFrame):
    if "run" not in frame.columns:
        frame = frame.assign(run="")
    return frame, list(dict.fromkeys(frame["run"]))


def _grid(n_panels, width=3.4, height=2.7, max_columns=4):
    columns = min(max_columns, max(n_panels, 1))
    rows = math.ceil(max(n_panels, 1) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows), squeeze=False)
    for ax in axes.flat[n_panels:]:
        ax.set_visible(False)
    return fig, axes.flat


def alpha_views_figure(table: pd.DataFrame, method: str = "mohammadi"):
    """α̂ against checkpoint iteration, one panel per run, the views side by side: pooled,
    MAD-normalised pooled and per-parameter median with their confidence bands (per-parameter also
    its 10–90 % spread over coordinates), each layer's pooled α̂ as a thin line; α = 2 is Gaussian."""
    _require(table, ["iteration", "method", "view", "layer", "alpha", "ci_low", "ci_high"], "alpha table")
    set_style()
    rows = table[table["method"] == method]
    if rows.empty:
        raise ValueError(f"alpha table has no rows for method {method!r} (methods: {sorted(table['method'].unique())})")
    rows, runs = _runs(rows)
    colours = _view_colours()
    fig, axes = _grid(len(runs))
    for ax, run in zip(axes, runs):
        run_rows = rows[rows["run"] == run]
        for view in VIEW_ORDER:
            part = run_rows[run_rows["view"] == view].sort_values("iteration")
            if part.empty:
                continue
            if view == "per_layer":
                for index, (_, layer_rows) in enumerate(part.groupby("layer", sort=False)):
                    ax.plot(layer_rows["iteration"], layer_rows["alpha"], lw=0.8, alpha=0.6, ls="--", color=colours[view],
                            label=VIEW_LABELS[view] if index == 0 else None)
                continue
            ax.plot(part["iteration"], part["alpha"], marker="o", ms=3, lw=1.4, color=colours[view], label=VIEW_LABELS[view])
            ax.fill_between(part["iteration"], part["ci_low"], part["ci_high"], color=colours[view], alpha=0.25, lw=0)
            if view == "per_parameter" and {"q10", "q90"} <= set(part.columns):
                ax.fill_between(part["iteration"], part["q10"], part["q90"], color=colours[view], alpha=0.08, lw=0)
        ax.axhline(2.0, color="0.3", lw=0.8, ls=":")
        ax.set_title(str(run), fontsize=8)
        ax.set_xlabel("iteration")
        ax.set_ylabel(f"α̂ ({method})")
    handles, labels = next(iter(fig.axes)).get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, frameon=False, bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def per_parameter_alpha_figure(per_parameter: pd.DataFrame, method: str = "mohammadi", limits=(0.0, 5.0), bins: int = 50):
    """Histograms of the per-coordinate α̂ (across mini-batches), one panel per run, at the first
    and the last checkpoint. Values outside ``limits`` (and +inf) are piled into the edge bins;
    the share beyond the upper limit is printed in each panel."""
    _require(per_parameter, ["iteration", "method", "alpha"], "per-parameter table")
    set_style()
    rows = per_parameter[(per_parameter["method"] == method) & per_parameter["alpha"].notna()]
    if rows.empty:
        raise ValueError(f"per-parameter table has no α̂ for method {method!r}")
    rows, runs = _runs(rows)
    fig, axes = _grid(len(runs))
    edges = np.linspace(*limits, bins + 1)
    palette = sns.color_palette("colorblind", 2)
    for ax, run in zip(axes, runs):
        run_rows = rows[rows["run"] == run]
        iterations = sorted(run_rows["iteration"].unique())
        chosen = [iterations[0]] if len(iterations) == 1 else [iterations[0], iterations[-1]]
        notes = []
        for colour, iteration in zip(palette, chosen):
            values = run_rows.loc[run_rows["iteration"] == iteration, "alpha"].to_numpy(dtype=float)
            clipped = np.clip(np.where(np.isinf(values), limits[1], values), limits[0], limits[1] - 1e-9)
            ax.hist(clipped, bins=edges, density=True, histtype="step", lw=1.4, color=colour, label=f"iteration {iteration}")
            notes.append(f"{np.mean(values >= limits[1]):.0%} ≥ {limits[1]:g} at {iteration}")
        ax.axvline(2.0, color="0.3", lw=0.8, ls=":")
        ax.text(0.98, 0.95, "\n".join(notes), transform=ax.transAxes, ha="right", va="top", fontsize=7)
        ax.set_title(str(run), fontsize=8)
        ax.set_xlabel(f"per-coordinate α̂ ({method})")
        ax.set_ylabel("density")
        ax.legend(fontsize=7, loc="center right", frameon=False)
    fig.tight_layout()
    return fig


def estimator_validation_figure(summary: pd.DataFrame, mixture: pd.DataFrame):
    """Top rows: bias and RMSE of each method against the true α on SαS samples, one curve per
    sample size (symlog bias axis, so Hill's large bias near α = 2 and small biases both show).
    Bottom: Gaussian scale mixture, α̂ of each view against the spread of the log-scales."""
    _require(summary, ["method", "alpha", "n_samples", "bias", "rmse"], "validation summary")
    _require(mixture, ["log_scale_sd", "method", "view", "alpha", "ci_low", "ci_high"], "scale-mixture table")
    set_style()
    methods = [m for m in METHOD_ORDER if m in set(summary["method"])]
    columns = max(len(methods), 1)
    fig = plt.figure(figsize=(3.4 * columns, 9.0))
    grid = fig.add_gridspec(3, columns)
    sizes = sorted(summary["n_samples"].unique())
    palette = dict(zip(sizes, sns.color_palette("viridis", len(sizes))))
    for index, method in enumerate(methods):
        part = summary[summary["method"] == method]
        bias_ax = fig.add_subplot(grid[0, index])
        rmse_ax = fig.add_subplot(grid[1, index])
        for size in sizes:
            curve = part[part["n_samples"] == size].sort_values("alpha")
            label = f"n = 10^{math.log10(size):.0f}" if math.log10(size).is_integer() else f"n = {size}"
            bias_ax.plot(curve["alpha"], curve["bias"], marker="o", ms=3, color=palette[size], label=label)
            rmse_ax.plot(curve["alpha"], np.maximum(curve["rmse"], 1e-4), marker="o", ms=3, color=palette[size], label=label)
        bias_ax.axhline(0, color="0.3", lw=0.8)
        bias_ax.set_yscale("symlog", linthresh=0.02, linscale=0.5)
        bias_ax.set_title(method)
        bias_ax.set_ylabel("bias of α̂")
        rmse_ax.set_yscale("log")  # RMSE 0 (McCulloch clipped at α = 2) drawn at 1e-4
        rmse_ax.set_xlabel("true α")
        rmse_ax.set_ylabel("RMSE of α̂")
        if index == 0:
            bias_ax.legend(fontsize=7, frameon=False)
    colours = _view_colours()
    for index, method in enumerate([m for m in METHOD_ORDER if m in set(mixture["method"])][:columns]):
        ax = fig.add_subplot(grid[2, index])
        part = mixture[mixture["method"] == method]
        for view in VIEW_ORDER:
            curve = part[part["view"] == view].sort_values("log_scale_sd")
            if curve.empty:
                continue
            ax.plot(curve["log_scale_sd"], curve["alpha"], marker="o", ms=3, color=colours[view], label=VIEW_LABELS[view])
            ax.fill_between(curve["log_scale_sd"], curve["ci_low"], curve["ci_high"], color=colours[view], alpha=0.25, lw=0)
        ax.axhline(2.0, color="0.3", lw=0.8, ls=":")
        ax.set_xlabel("sd of log column scale")
        ax.set_ylabel(f"α̂ ({method})")
        ax.set_title("Gaussian scale mixture (true α = 2)", fontsize=9)
        ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig
