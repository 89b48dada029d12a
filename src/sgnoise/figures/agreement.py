"""How much the answer depends on the estimator: the Hill plot (α̂ against the number k of upper order
statistics), the estimator agreement figure (every estimate of the last checkpoint against the
paper's) and the paper's α̂ against the block length K1. Each takes tidy tables
(sgnoise.tail.hill_plot_table, sgnoise.aggregate.estimator_agreement, the alpha_k1 table)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from sgnoise.figures.style import (NOT_LEARNED_COLOUR, family_label, figure_legend_entries, not_learned, not_learned_handle,
                                  not_learned_label, plot_not_learned, require_columns, set_style, with_run_column)

CURVE_METHODS = ("hill", "moment", "pickands")
CURVE_LABELS = {"hill": "Hill", "moment": "moment (Dekkers–Einmahl–de Haan)", "pickands": "Pickands"}
# the estimates of the agreement table other than the paper's own, in drawing order
AGREEMENT_ESTIMATES = ("k1_fixed", "k1_median", "stored_mohammadi", "stored_mohammadi_order", "stored_mcculloch",
                       "stored_hill", "stored_moment", "stored_pickands")
AGREEMENT_LABELS = {"k1_fixed": "all P, fixed K1", "k1_median": "all P, median over K1 grid",
                    "stored_mohammadi": "stored cols: mohammadi", "stored_mohammadi_order": "stored cols: mohammadi_order",
                    "stored_mcculloch": "stored cols: mcculloch", "stored_hill": "stored cols: hill",
                    "stored_moment": "stored cols: moment", "stored_pickands": "stored cols: pickands"}
AGREEMENT_MARKERS = {"k1_fixed": "s", "k1_median": "P", "stored_mohammadi": "o", "stored_mohammadi_order": "D",
                     "stored_mcculloch": "X", "stored_hill": "^", "stored_moment": "v", "stored_pickands": "<"}


DIFFERENCE_XLIM = (-1.5, 4.0)


def _palette(names):
    return dict(zip(names, sns.color_palette("colorblind", len(names))))


def hill_plot_figure(curves: pd.DataFrame, alpha: pd.DataFrame | None = None, ylim=(0.0, 5.0)):
    """One panel per run (``curves``: sgnoise.tail.hill_plot_table rows with a ``run`` column): α̂
    against k (log axis) for Hill, the moment estimator and Pickands on the pooled entries of the
    stored columns at one checkpoint; a filled marker at the k the α table uses (``k_auto``). From
    ``alpha`` (the run's α table) two horizontal references: the paper's pooled Mohammadi α̂ over all
    P coordinates with its interval (solid black, grey band) and Mohammadi on the same stored entries
    (dashed). α = 2 dotted. Every curve has the gid "curve:<method>:<run>"."""
    set_style()
    if "run" not in curves.columns:
        curves = curves.assign(run="")
    runs = list(dict.fromkeys(curves["run"]))
    colours = _palette(CURVE_METHODS)
    columns = min(max(len(runs), 1), 3)
    rows = -(-max(len(runs), 1) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 3.8 * rows + 0.6), squeeze=False, sharey=True)
    for ax in axes.flat[len(runs):]:
        ax.set_visible(False)
    if not runs:
        axes[0, 0].text(0.5, 0.5, "no example run finished ok", ha="center", va="center", transform=axes[0, 0].transAxes)
        axes[0, 0].set_axis_off()
        return fig
    outside = False
    for ax, run in zip(axes.flat, runs):
        part = curves[curves["run"] == run]
        iteration = int(part["iteration"].iloc[0])
        n = int(part["n_samples"].iloc[0])
        for method in CURVE_METHODS:
            rows = part[part["method"] == method].sort_values("k")
            if rows.empty:
                continue
            values = rows["alpha"].to_numpy(dtype=float)
            (line,) = ax.plot(rows["k"], np.clip(values, *ylim), lw=1.3, color=colours[method], label=CURVE_LABELS[method])
            line.set_gid(f"curve:{method}:{run}")
            auto = rows[rows["k_auto"].astype(str) == "True"]
            ax.plot(auto["k"], np.clip(auto["alpha"], *ylim), "o", ms=6, color=colours[method], markeredgecolor="black",
                    gid=f"auto:{method}:{run}")
            outside |= bool((~np.isfinite(values) | (values < ylim[0]) | (values > ylim[1])).any())
        if alpha is not None and len(alpha):
            mine = alpha[(alpha["run"] == run) & (alpha["iteration"] == iteration) & (alpha["method"] == "mohammadi")]
            paper = mine[mine["view"] == "pooled"]
            if len(paper) and np.isfinite(paper["alpha"].iloc[0]):
                row = paper.iloc[0]
                ax.axhline(row["alpha"], color="black", lw=1.2, label="paper: pooled Mohammadi, all P (95 % CI)",
                           gid=f"paper:{run}")
                ax.axhspan(row["ci_low"], row["ci_high"], color="0.5", alpha=0.3, lw=0)
            stored = mine[mine["view"] == "pooled_stored"]
            if len(stored) and np.isfinite(stored["alpha"].iloc[0]):
                ax.axhline(stored["alpha"].iloc[0], color="black", lw=1.0, ls="--",
                           label="Mohammadi on the same stored entries", gid=f"stored:{run}")
        ax.axhline(2.0, color="0.3", lw=0.8, ls=":", label="α = 2 (Gaussian)")
        ax.set_xscale("log")
        ax.set_ylim(*ylim)
        ax.set_xlabel(f"k (upper order statistics of |x|, of n = {n:,})")
        ax.set_title(f"{run}\niteration {iteration}", fontsize=8)
    for row in axes:
        row[0].set_ylabel("α̂ (tail index of |x|)")
    handles, labels = figure_legend_entries(fig)
    curves_drawn = sum(CURVE_LABELS[m] in labels for m in CURVE_METHODS)  # the method lines come first
    handles.insert(curves_drawn, Line2D([], [], marker="o", ms=6, color="0.6", markeredgecolor="black", ls="none"))
    labels.insert(curves_drawn, "k the α table uses (⌊n^0.6⌋; Pickands ⌊n^0.6/4⌋)")
    _legend_and_note(fig, handles, labels, f"values outside [{ylim[0]:g}, {ylim[1]:g}] (and α̂ = +inf) are drawn at the edge"
                     if outside else "")
    return fig


def _legend_and_note(fig, handles, labels, note: str, bottom_inches: float = 0.75) -> None:
    """A figure legend in three columns under the panels (``bottom_inches`` reserved for it), and a
    one-line note under it."""
    height = fig.get_figheight()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=7, frameon=False, bbox_to_anchor=(0.5, 0.15 / height))
    fig.tight_layout(rect=(0, bottom_inches / height, 1, 1))
    if note:
        fig.text(0.01, 0.0, note, fontsize=7, ha="left", va="bottom")


def _last_checkpoint(agreement: pd.DataFrame) -> pd.DataFrame:
    rows = agreement[np.isfinite(pd.to_numeric(agreement["paper"], errors="coerce"))]
    return rows[rows["iteration"] == rows.groupby("run")["iteration"].transform("max")]


def estimator_agreement_figure(agreement: pd.DataFrame, learned_margin: float | None = None, ylim=(0.0, 5.0)):
    """At each run's last checkpoint (``agreement``: sgnoise.aggregate.estimator_agreement), left: every
    other estimate against the paper's pooled α̂ (all P, the configured K1 policy), one marker per
    estimate and run, the diagonal y = x (agreement); right: the difference estimate − paper per
    estimate over the runs that learned (box: quartiles, whiskers 5–95 %, dots the runs). Runs that
    did not learn are drawn hollow grey on the left and left out on the right. Every scatter has the
    gid "agreement:<estimate>"."""
    set_style()
    last = _last_checkpoint(agreement)
    estimates = [e for e in AGREEMENT_ESTIMATES if e in last.columns and last[e].notna().any()]
    colours = _palette(AGREEMENT_ESTIMATES)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.5, 4.6), gridspec_kw={"width_ratios": [1, 1.15]})
    if last.empty or not estimates:
        for ax in (left, right):
            ax.set_axis_off()
        left.text(0.5, 0.5, "no run with a pooled α̂ and other estimates", ha="center", va="center", transform=left.transAxes)
        return fig
    apart = not_learned(last)
    learned = last[~apart]
    outside = False
    for estimate in estimates:
        y = pd.to_numeric(learned[estimate], errors="coerce").to_numpy(dtype=float)
        left.scatter(learned["paper"], np.clip(y, *ylim), marker=AGREEMENT_MARKERS[estimate], s=26,
                     color=colours[estimate], label=AGREEMENT_LABELS[estimate], gid=f"agreement:{estimate}")
        if apart.any():
            y_apart = pd.to_numeric(last.loc[apart, estimate], errors="coerce").to_numpy(dtype=float)
            left.scatter(last.loc[apart, "paper"], np.clip(y_apart, *ylim), marker=AGREEMENT_MARKERS[estimate], s=26,
                         facecolors="none", edgecolors=NOT_LEARNED_COLOUR, gid=f"agreement_apart:{estimate}")
            y = np.concatenate([y, y_apart])
        outside |= bool((~np.isfinite(y) | (y < ylim[0]) | (y > ylim[1])).any())
    low, high = ylim
    left.plot([low, high], [low, high], color="black", lw=0.8, label="y = x (agreement)")
    left.axhline(2.0, color="0.3", lw=0.8, ls=":")
    left.set_xlim(max(low, float(last["paper"].min()) - 0.15), min(high, float(last["paper"].max()) + 0.15))
    finite = last[estimates].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    left.set_ylim(max(low, float(finite.min(initial=high)) - 0.15), min(high, float(finite.max(initial=low)) + 0.15))
    left.set_xlabel("paper's α̂: pooled Mohammadi over all P (last checkpoint)")
    left.set_ylabel("other estimate of the same checkpoint")
    left.set_title("every estimate against the paper's", fontsize=9)
    differences = [pd.to_numeric(learned[e], errors="coerce") - learned["paper"] for e in estimates]
    positions = np.arange(len(estimates))[::-1]
    data = [d[np.isfinite(d)].to_numpy() for d in differences]
    drawn = [i for i, d in enumerate(data) if d.size]
    if drawn:
        right.boxplot([data[i] for i in drawn], positions=positions[drawn], orientation="horizontal", whis=(5, 95), widths=0.6,
                      showfliers=False, medianprops={"color": "black"})
    for i, (estimate, values) in enumerate(zip(estimates, data)):
        jitter = np.linspace(-0.18, 0.18, values.size) if values.size > 1 else np.zeros(values.size)
        right.scatter(values, positions[i] + jitter, s=10, color=colours[estimate], zorder=3,
                      gid=f"difference:{estimate}")
    right.axvline(0.0, color="black", lw=0.8)
    right.set_title(f"difference from the paper's α̂, {len(learned)} runs", fontsize=9)
    every = np.concatenate(data) if data else np.empty(0)
    if every.size and (every.min() < DIFFERENCE_XLIM[0] or every.max() > DIFFERENCE_XLIM[1]):
        right.set_xlim(*DIFFERENCE_XLIM)  # Pickands and the moment estimator can read tens on near-Gaussian tails
        right.set_title(f"difference from the paper's α̂, {len(learned)} runs "
                        f"({int(((every < DIFFERENCE_XLIM[0]) | (every > DIFFERENCE_XLIM[1])).sum())} outside the axis)",
                        fontsize=9)
    right.set_yticks(positions, [AGREEMENT_LABELS[e] for e in estimates], fontsize=8)
    right.set_xlabel("estimate − paper's α̂ (runs that learned)")

    handles, labels = left.get_legend_handles_labels()
    if apart.any():
        handles.append(Line2D([], [], marker="o", ls="none", markerfacecolor="none", markeredgecolor=NOT_LEARNED_COLOUR))
        labels.append(not_learned_label(learned_margin))
    _legend_and_note(fig, handles, labels, f"left: estimates outside [{low:g}, {high:g}] (and +inf) are drawn at the edge"
                     if outside else "")
    return fig


# ---------------------------------------------------------------- α̂ against the block length K1
K1_COLUMNS = ("run", "iteration", "view", "k1", "alpha", "ci_low", "ci_high", "n_samples", "k1_reference")


def _model_size(row) -> tuple:
    """Sort key of a model's size within its family: FCN (width, depth), AlexNet (scale), VGG (width, variant)."""
    def number(key):
        value = pd.to_numeric(getattr(row, key, np.nan), errors="coerce")
        return float(value) if pd.notna(value) else 0.0

    if row.model == "fcn":
        return (number("width"), number("depth"))
    if row.model == "alexnet":
        return (number("scale"),)
    return (number("width"), number("variant"))


def representative_runs(runs: pd.DataFrame, example_runs=()) -> list:
    """The runs drawn by :func:`alpha_vs_k1`: ``example_runs`` if given, else for each model family
    (sgnoise.figures.style.family_label) the smallest and the largest model among its runs with loss
    nll at the family's most common batch size (ties: the first run in ``runs`` order)."""
    if len(example_runs):
        return list(dict.fromkeys(example_runs))
    chosen = []
    nll = runs[runs["loss"] == "nll"].copy()
    if nll.empty:
        return chosen
    nll["family"] = family_label(nll)
    for _, rows in nll.groupby("family", sort=False):
        rows = rows[rows["batch_size"] == rows["batch_size"].mode().min()]
        ordered = sorted(rows.itertuples(index=False), key=_model_size)  # stable: ties keep the table's order
        smallest, largest = ordered[0], max(ordered, key=_model_size)  # max: the first of the largest
        chosen += [run for run in dict.fromkeys([smallest.run, largest.run]) if run not in chosen]
    return chosen


def alpha_vs_k1(alpha_k1: pd.DataFrame, runs: pd.DataFrame, example_runs=(), view: str = "pooled",
                ylim=(0.0, 2.5), learned_margin: float | None = None):
    """The paper's pooled Mohammadi α̂ against the block length K1 (log axis), at the last checkpoint of
    a few representative runs (:func:`representative_runs`), one line per run with its confidence band,
    a filled diamond on each line at the K1 the paper's code uses for that run's N (``k1_reference``,
    the largest divisor of N not above √N); dotted: α = 2 (Gaussian). The y axis is clipped to ``ylim``
    (a note says when estimates fall outside). Runs that did not learn (``learned`` False in
    ``alpha_k1`` or ``runs``) are drawn apart (hollow grey, dashed). Every line and reference marker
    has a gid, "k1:<run>" and "k1_reference:<run>"."""
    require_columns(alpha_k1, [c for c in K1_COLUMNS if c != "run"], "alpha_k1 table")
    set_style()
    alpha_k1, _ = with_run_column(alpha_k1)
    chosen = representative_runs(runs, example_runs)
    if "learned" not in alpha_k1.columns and "learned" in runs.columns:
        alpha_k1 = alpha_k1.merge(runs[["run", "learned"]], on="run", how="left")
    rows = alpha_k1[(alpha_k1["view"] == view) & alpha_k1["run"].isin(chosen) & np.isfinite(alpha_k1["alpha"])]
    rows = rows[rows["iteration"] == rows.groupby("run")["iteration"].transform("max")]
    shown = [run for run in chosen if run in set(rows["run"])]
    fig, ax = plt.subplots(figsize=(7.0, 4.2))
    if not shown:
        ax.text(0.5, 0.5, f"no K1 estimates (view {view}) for the runs {chosen}", ha="center", va="center",
                wrap=True, transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    apart_runs = set(rows.loc[not_learned(rows), "run"])
    palette = dict(zip([r for r in shown if r not in apart_runs], sns.color_palette("colorblind", len(shown))))
    handles, labels = [], []
    outside = False
    for run in shown:
        part = rows[rows["run"] == run].sort_values("k1")
        k1, alpha = part["k1"].to_numpy(dtype=float), part["alpha"].to_numpy(dtype=float)
        n_samples = int(part["n_samples"].iloc[0])
        label = f"{run} (it. {int(part['iteration'].iloc[0])}, N = {n_samples:.3g})"
        apart = run in apart_runs
        colour = NOT_LEARNED_COLOUR if apart else palette[run]
        if apart:
            line = plot_not_learned(ax, k1, alpha, ms=3, label=label)
        else:
            (line,) = ax.plot(k1, alpha, "o-", ms=3, lw=1.4, color=colour, label=label)
        line.set_gid(f"k1:{run}")
        ax.fill_between(k1, part["ci_low"], part["ci_high"], color=colour, alpha=0.15 if apart else 0.25, lw=0)
        handles.append(line)
        labels.append(label)
        reference = float(part["k1_reference"].iloc[0])
        at = part.loc[part["k1"] == reference, "alpha"]
        y = float(at.iloc[0]) if len(at) else float(np.interp(np.log(reference), np.log(k1), alpha))
        (marker,) = ax.plot([reference], [y], "D", ms=7, color=colour, markeredgecolor="black", ls="none", zorder=3)
        marker.set_gid(f"k1_reference:{run}")
        outside |= bool(((alpha < ylim[0]) | (alpha > ylim[1])).any())
    ax.axhline(2.0, color="0.3", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_ylim(*ylim)
    ax.set_xlabel("block length K1")
    ax.set_ylabel(f"α̂ (Mohammadi, {view}, last checkpoint)")
    from matplotlib.lines import Line2D

    handles.append(Line2D([], [], marker="D", ms=7, color="0.3", markeredgecolor="black", ls="none"))
    labels.append("paper's K1 (largest divisor of N ≤ √N)")
    handles.append(Line2D([], [], color="0.3", lw=0.8, ls=":"))
    labels.append("α = 2 (Gaussian)")
    if apart_runs:
        handles.append(not_learned_handle(learned_margin, ms=3))
        labels.append(not_learned_label(learned_margin))
    fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 0.98), fontsize=7, frameon=False)
    notes = []
    if outside:
        notes.append(f"estimates outside [{ylim[0]:g}, {ylim[1]:g}] are cut off")
    missing = [run for run in chosen if run not in shown]
    if missing:
        notes.append("not shown (no K1 estimates, e.g. diverged): " + "; ".join(missing))
    fig.tight_layout()
    if notes:
        fig.text(0.01, -0.02, ". ".join(notes), fontsize=7, ha="left", va="top", wrap=True)
    return fig
