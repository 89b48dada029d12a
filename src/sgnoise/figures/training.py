"""Figures of α over training: the pooled α̂ and the train and test accuracy against the iteration, one
line per run (the paper's Figs. 5–6 kinds)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from sgnoise.figures.style import (family_label, no_runs_figure, not_learned, not_learned_handle, not_learned_label,
                                  note_missing_runs, ok_runs_only, plot_not_learned, set_style, with_learned)


NO_SIZE, NO_SIZE_LABEL = -1.0, "no size (custom)"  # runs without width or scale (custom models)


def alpha_over_iterations(alpha: pd.DataFrame, metrics: pd.DataFrame, runs: pd.DataFrame, method: str = "mohammadi",
                          phases: pd.DataFrame | None = None, learned_margin: float | None = None):
    """α̂ (pooled) and train/test accuracy against iteration: rows loss × {α, accuracy}, columns model
    (depth for FCNs), colour width (or scale); a pair of panels only for the (loss, model) combinations
    that were run, none for the others. A triangle marks each run's detected phase change (the lowest
    α̂ before its jump; ``phases`` from sgnoise.tail.phases.phase_change_table). Runs that did not learn
    (``learned`` False) are drawn apart: α̂ in hollow grey on a dashed grey line, accuracies in grey,
    no phase-change mark. Runs whose status is not "ok" (diverged) are left out and named in a note
    under the figure."""
    change = {} if phases is None else dict(zip(phases["run"], phases["phase_change_iteration"]))
    set_style()
    alpha, metrics = ok_runs_only(with_learned(alpha, runs), runs), ok_runs_only(with_learned(metrics, runs), runs)
    data = alpha[(alpha["method"] == method) & (alpha["view"] == "pooled") & alpha["alpha"].notna()].copy()
    if data.empty:
        return no_runs_figure("no runs with α estimates", runs)
    metrics = metrics.copy()
    for frame in (data, metrics):
        frame["size"] = frame["width"] if "width" in frame else np.nan
        frame["column"] = frame["dataset"] + " · " + family_label(frame)
        if "depth" in frame:
            is_fcn = frame["model"] == "fcn"
            frame.loc[is_fcn, "column"] = frame.loc[is_fcn, "column"] + " d" + frame.loc[is_fcn, "depth"].astype("Int64").astype(str)
        if "scale" in frame:
            frame["size"] = frame["size"].fillna(frame["scale"])
        frame["size"] = frame["size"].fillna(NO_SIZE)  # a custom model: drawn too, in black
    data["apart"], metrics["apart"] = not_learned(data), not_learned(metrics)
    losses = sorted(data["loss"].unique())
    columns = sorted(data["column"].unique())
    panels = sorted(set(zip(data["loss"], data["column"])), key=lambda p: (losses.index(p[0]), columns.index(p[1])))
    fig = plt.figure(figsize=(3.4 * len(columns), 2.6 * 2 * len(losses)))
    layout = fig.add_gridspec(2 * len(losses), len(columns))
    sizes = sorted(data["size"].unique())
    sized = [s for s in sizes if s != NO_SIZE]
    colours = {**dict(zip(sized, sns.color_palette("viridis", len(sized)))), NO_SIZE: "black"}
    first = None
    lowest = {column: max(losses.index(loss) for loss, c in panels if c == column) for column in columns}
    leftmost = {loss: min(columns.index(column) for l, column in panels if l == loss) for loss in losses}
    for loss, column in panels:
        i, j = losses.index(loss), columns.index(column)
        ax_alpha = fig.add_subplot(layout[2 * i, j], sharex=first)
        first = first or ax_alpha
        ax_acc = fig.add_subplot(layout[2 * i + 1, j], sharex=first)
        for size in sizes:
            sel = (data["loss"] == loss) & (data["column"] == column) & (data["size"] == size)
            for run, run_rows in data[sel].groupby("run"):
                run_rows = run_rows.sort_values("iteration")
                if run_rows["apart"].any():
                    plot_not_learned(ax_alpha, run_rows["iteration"] + 1, run_rows["alpha"], ms=3)
                    continue
                ax_alpha.plot(run_rows["iteration"] + 1, run_rows["alpha"], "o-", ms=3, color=colours[size],
                              label=NO_SIZE_LABEL if size == NO_SIZE else f"{size:g}")
                if pd.notna(change.get(run, np.nan)):
                    at = run_rows[run_rows["iteration"] == change[run]]
                    ax_alpha.plot(at["iteration"] + 1, at["alpha"] - 0.04, "^", ms=8, color=colours[size],
                                  markeredgecolor="black", label="phase change")
            msel = (metrics["loss"] == loss) & (metrics["column"] == column) & (metrics["size"] == size)
            for _, run_rows in metrics[msel].groupby("run"):
                run_rows = run_rows.sort_values("iteration")
                colour = "0.55" if run_rows["apart"].any() else colours[size]
                ax_acc.plot(run_rows["iteration"] + 1, run_rows["train_accuracy"], "-", color=colour)
                ax_acc.plot(run_rows["iteration"] + 1, run_rows["test_accuracy"], "--", color=colour)
        ax_alpha.set_title(f"{column} · {loss}", fontsize=9)
        ax_alpha.axhline(2.0, color="grey", lw=0.8, ls=":")
        ax_alpha.set_xscale("log")
        ax_acc.set_ylim(0, 1.02)
        if j == leftmost[loss]:
            ax_alpha.set_ylabel("α̂ (pooled)")
            ax_acc.set_ylabel("accuracy\n(— train, -- test)")
        if i == lowest[column]:
            ax_acc.set_xlabel("iteration + 1")
    unique = {}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            unique.setdefault(label, handle)
    others = ("phase change", NO_SIZE_LABEL)
    sizes_first = sorted((label for label in unique if label not in others), key=float)
    unique = {label: unique[label] for label in sizes_first + [label for label in others if label in unique]}
    if data["apart"].any():
        unique[not_learned_label(learned_margin)] = not_learned_handle(learned_margin, ms=3)
    fig.tight_layout()
    if unique:
        fig.legend(unique.values(), unique.keys(), title="width / scale", loc="upper left", bbox_to_anchor=(1.0, 0.98))
    note_missing_runs(fig, runs)
    return fig
