"""Tail-index figures: the views side by side (the critique figure), per-parameter α̂ histograms, and
the estimator validation on synthetic samples (bias, RMSE, scale-mixture demonstration). Each takes
tidy tables."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from sgnoise.figures.style import (NOT_LEARNED_COLOUR, figure_legend_entries, not_learned, not_learned_handle, not_learned_label,
                                  plot_not_learned, require_columns, set_style, with_run_column)

VIEW_ORDER = ("pooled", "pooled_stored", "pooled_normalised", "per_parameter", "per_layer")
VIEW_LABELS = {"pooled": "pooled (paper: all P)", "pooled_stored": "pooled (stored columns)",
               "pooled_normalised": "pooled, MAD-normalised",
               "per_parameter": "per parameter (median, 10–90 %)", "per_layer": "per layer (pooled)"}
VIEW_MARKERS = {"pooled": "o", "pooled_stored": "D", "pooled_normalised": "s", "per_parameter": "^", "per_layer": ""}
METHOD_ORDER = ("mohammadi", "mohammadi_order", "hill", "pickands", "moment", "mcculloch")


def _view_colours():
    return dict(zip(VIEW_ORDER, sns.color_palette("colorblind", len(VIEW_ORDER))))


def _grid(n_panels, width=3.4, height=2.7, max_columns=4):
    columns = min(max_columns, max(n_panels, 1))
    rows = math.ceil(max(n_panels, 1) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows), squeeze=False)
    for ax in axes.flat[n_panels:]:
        ax.set_visible(False)
    return fig, axes.flat


NULL_BAND_LABEL = "per-parameter on Gaussian columns (null, 10–90 %)"
NULL_BAND_STYLE = dict(facecolor="none", edgecolor="0.35", hatch="////", lw=0.0)


def draw_null_band(ax, iteration, low, high, label=None):
    """The per-parameter view's null band: the same estimator's 10–90 % spread on Gaussian columns of
    the same shape (sgnoise.tail.streaming.gaussian_null_matrix), hatched grey with dotted edges."""
    ax.fill_between(iteration, low, high, label=label, **NULL_BAND_STYLE)
    for edge in (low, high):
        ax.plot(iteration, edge, color="0.35", lw=0.6, ls=":")


VIEWS_YMAX = 6.0


def _two_line_run(run) -> str:
    """A run id on two lines (dataset/model · loss/batch…/seed), so that long ids fit over a panel."""
    parts = str(run).split("/")
    return "/".join(parts[:2]) + "\n" + "/".join(parts[2:]) if len(parts) > 2 else str(run)


def alpha_views_figure(table: pd.DataFrame, method: str = "mohammadi", learned_margin: float | None = None):
    """α̂ against checkpoint iteration (log axis of iteration + 1: checkpoints are log-spaced), one panel per run, the views side by side: pooled,
    MAD-normalised pooled and per-parameter median with their confidence bands (per-parameter also
    its 10–90 % spread over coordinates), each layer's pooled α̂ as a thin line; α = 2 is Gaussian.

    Each view has its colour and its marker. Runs that did not learn (``learned`` False) come last,
    their panel titled "did not learn" and every view drawn apart (sgnoise.figures.style): hollow grey
    markers on dashed grey lines, grey bands, the marker telling the views apart. Runs without any
    finite α̂ (diverged: α not estimated) get no panel; a note under the figure names them."""
    require_columns(table, ["iteration", "method", "view", "layer", "alpha", "ci_low", "ci_high"], "alpha table")
    set_style()
    rows = table[table["method"] == method]
    if rows.empty:
        raise ValueError(f"alpha table has no rows for method {method!r} (methods: {sorted(table['method'].unique())})")
    rows, runs = with_run_column(rows)
    estimated = set(rows.loc[rows["alpha"].notna(), "run"])
    missing = [run for run in runs if run not in estimated]
    apart_runs = set(rows.loc[not_learned(rows), "run"])
    runs = [run for run in runs if run in estimated and run not in apart_runs] + \
           [run for run in runs if run in estimated and run in apart_runs]
    colours = _view_colours()
    fig, axes = _grid(len(runs))
    if not runs:
        axes[0].set_visible(True)
        axes[0].text(0.5, 0.5, "no run with α estimates", ha="center", va="center", transform=axes[0].transAxes)
        axes[0].set_axis_off()
    for ax, run in zip(axes, runs):
        run_rows = rows[rows["run"] == run].assign(step=lambda f: f["iteration"] + 1)  # log axis: iteration + 1
        apart = run in apart_runs
        for view in VIEW_ORDER:
            part = run_rows[run_rows["view"] == view].sort_values("step")
            if part.empty:
                continue
            colour = NOT_LEARNED_COLOUR if apart else colours[view]
            if view == "per_layer":
                for index, (_, layer_rows) in enumerate(part.groupby("layer", sort=False)):
                    ax.plot(layer_rows["step"], layer_rows["alpha"], lw=0.8, alpha=0.6, ls="--", color=colour,
                            label=VIEW_LABELS[view] if index == 0 and not apart else None)
                continue
            if apart:
                plot_not_learned(ax, part["step"], part["alpha"], marker=VIEW_MARKERS[view], ms=3, lw=1.4)
            else:
                ax.plot(part["step"], part["alpha"], marker=VIEW_MARKERS[view], ms=3, lw=1.4, color=colour,
                        label=VIEW_LABELS[view])
            ax.fill_between(part["step"], part["ci_low"], part["ci_high"], color=colour, alpha=0.25, lw=0)
            if view == "per_parameter" and {"q10", "q90"} <= set(part.columns):
                ax.fill_between(part["step"], part["q10"], part["q90"], color=colour, alpha=0.08, lw=0)
            if view == "per_parameter" and {"null_q10", "null_q90"} <= set(part.columns) and part["null_q10"].notna().any():
                draw_null_band(ax, part["step"], part["null_q10"], part["null_q90"], label=NULL_BAND_LABEL)
        ax.axhline(2.0, color="0.3", lw=0.8, ls=":")
        low, high = ax.get_ylim()
        if high > VIEWS_YMAX:  # a near-constant layer (e.g. a norm's gain) can read α̂ in the hundreds
            ax.set_ylim(max(low, 0.0), VIEWS_YMAX)
            ax.text(0.99, 0.98, f"cut at {VIEWS_YMAX:g}", transform=ax.transAxes, ha="right", va="top", fontsize=6)
        title = _two_line_run(run)
        if apart:
            ax.set_title(f"{title} (did not learn)", fontsize=8, color=NOT_LEARNED_COLOUR)
        else:
            ax.set_title(title, fontsize=8)
        ax.set_xscale("log")  # checkpoints are log-spaced
        ax.set_xlabel("iteration + 1")
        ax.set_ylabel(f"α̂ ({method})")
    handles, labels = figure_legend_entries(fig, order=[VIEW_LABELS[v] for v in VIEW_ORDER] + [NULL_BAND_LABEL])
    if apart_runs & set(runs):
        handles.append(not_learned_handle(learned_margin, ms=3))
        labels.append(not_learned_label(learned_margin))
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4) or 1, frameon=False, bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    if missing:
        fig.text(0.01, -0.04, "not shown (no α estimates, e.g. diverged): " + "; ".join(map(str, missing)), fontsize=7,
                 ha="left", va="top", wrap=True)
    return fig


def per_parameter_alpha_figure(per_parameter: pd.DataFrame, method: str = "mohammadi", limits=(0.0, 5.0), bins: int = 50,
                               alpha_table: pd.DataFrame | None = None):
    """Histograms of the per-coordinate α̂ (across mini-batches), one panel per run, at the first
    and the last checkpoint. Values outside ``limits`` (and +inf) are piled into the edge bins;
    the share beyond the upper limit is printed in each panel. With ``alpha_table`` (the α table's
    per_parameter rows with the null_* columns) the last checkpoint's null band is drawn behind:
    the same estimator's 10–90 % range on Gaussian columns of the same shape (hatched) and its 5 %
    quantile (dotted), with the excess fraction (measured coordinates below that quantile; 5 % under
    Gaussian noise) printed."""
    require_columns(per_parameter, ["iteration", "method", "alpha"], "per-parameter table")
    set_style()
    rows = per_parameter[(per_parameter["method"] == method) & per_parameter["alpha"].notna()]
    if rows.empty:
        raise ValueError(f"per-parameter table has no α̂ for method {method!r}")
    rows, runs = with_run_column(rows)
    fig, axes = _grid(len(runs))
    edges = np.linspace(*limits, bins + 1)
    palette = sns.color_palette("colorblind", 2)
    for ax, run in zip(axes, runs):
        run_rows = rows[rows["run"] == run]
        iterations = sorted(run_rows["iteration"].unique())
        chosen = [iterations[0]] if len(iterations) == 1 else [iterations[0], iterations[-1]]
        notes = []
        null = _null_row(alpha_table, run, chosen[-1], method)
        if null is not None:
            ax.axvspan(null["null_q10"], null["null_q90"], label="Gaussian null 10–90 %", zorder=0, **NULL_BAND_STYLE)
            ax.axvline(null["null_q05"], color="0.35", lw=0.8, ls=":", label="Gaussian null 5 %")
        for colour, iteration in zip(palette, chosen):
            values = run_rows.loc[run_rows["iteration"] == iteration, "alpha"].to_numpy(dtype=float)
            clipped = np.clip(np.where(np.isinf(values), limits[1], values), limits[0], limits[1] - 1e-9)
            ax.hist(clipped, bins=edges, density=True, histtype="step", lw=1.4, color=colour, label=f"iteration {iteration}")
            notes.append(f"{np.mean(values >= limits[1]):.0%} ≥ {limits[1]:g} at {iteration}")
        if null is not None:
            notes.append(f"{null['excess_fraction']:.0%} below null 5 % at {chosen[-1]}")
        ax.axvline(2.0, color="0.3", lw=0.8, ls=":")
        ax.text(0.98, 0.95, "\n".join(notes), transform=ax.transAxes, ha="right", va="top", fontsize=7)
        ax.set_title(str(run), fontsize=8)
        ax.set_xlabel(f"per-coordinate α̂ ({method})")
        ax.set_ylabel("density")
    handles, labels = figure_legend_entries(fig)  # one legend under the panels: they stay readable
    fig.legend(handles, labels, loc="lower center", ncol=max(len(labels), 1), frameon=False, fontsize=8,
               bbox_to_anchor=(0.5, -0.01))
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def _null_row(alpha_table, run, iteration, method):
    """The per_parameter row of the α table with the null band of ``run`` at ``iteration`` (None if absent)."""
    if alpha_table is None or "null_q10" not in alpha_table:
        return None
    rows = alpha_table[(alpha_table["run"] == run) & (alpha_table["iteration"] == iteration)
                       & (alpha_table["method"] == method) & (alpha_table["view"] == "per_parameter")]
    if rows.empty or not np.isfinite(rows["null_q10"].iloc[0]):
        return None
    return rows.iloc[0]


def estimator_validation_figure(summary: pd.DataFrame, mixture: pd.DataFrame):
    """Top rows: bias and RMSE of each method against the true α on SαS samples, one curve per
    sample size (symlog bias axis, so Hill's large bias near α = 2 and small biases both show).
    Bottom: Gaussian scale mixture, α̂ of each view against the spread of the log-scales."""
    require_columns(summary, ["method", "alpha", "n_samples", "bias", "rmse"], "validation summary")
    require_columns(mixture, ["log_scale_sd", "method", "view", "alpha", "ci_low", "ci_high"], "scale-mixture table")
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
        bias_ax.set_yscale("symlog", linthresh=0.02, linscale=1.0)  # linscale 0.5: the ticks at 0 and ±0.01 collide
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
