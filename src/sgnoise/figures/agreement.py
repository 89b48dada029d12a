"""How much the answer depends on the estimator: the Hill plot (α̂ against the number k of upper order
statistics) and the estimator agreement figure (every estimate of the last checkpoint against the
paper's). Each takes tidy tables (sgnoise.tail.views.hill_plot_table, sgnoise.aggregate.estimator_agreement)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from sgnoise.figures.style import NOT_LEARNED_COLOUR, figure_legend_entries, not_learned, not_learned_label, set_style

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
    """One panel per run (``curves``: sgnoise.tail.views.hill_plot_table rows with a ``run`` column): α̂
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
