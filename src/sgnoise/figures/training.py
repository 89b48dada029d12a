"""Figures of α across the run grid and over training iterations (the paper's Figs. 3–6 kinds)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from sgnoise.figures.style import (alpha_line_panels, family_label, not_learned, not_learned_handle, not_learned_label,
                                  plot_not_learned, set_style, with_learned)


SYSTEMATIC_METHOD = "mohammadi"  # the estimator whose pooled α̂ the agreement table's systematic range brackets


def final_checkpoint_rows(alpha: pd.DataFrame, method: str, view: str = "pooled",
                          agreement: pd.DataFrame | None = None) -> pd.DataFrame:
    """The rows of ``alpha`` for one method and view at each run's last checkpoint; with ``agreement``
    (sgnoise.aggregate.estimator_agreement) and the paper's view and method, also its systematic range
    ``sys_low``, ``sys_high`` (drawn by sgnoise.figures.style.alpha_line_panels)."""
    rows = alpha[(alpha["method"] == method) & (alpha["view"] == view)]
    last = rows.groupby("run")["iteration"].transform("max")
    rows = rows[rows["iteration"] == last]
    if agreement is not None and len(agreement) and method == SYSTEMATIC_METHOD and view == "pooled":
        rows = rows.merge(agreement[["run", "iteration", "sys_low", "sys_high"]], on=["run", "iteration"], how="left")
    return rows


def ok_runs_only(frame: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``frame`` whose run finished with status "ok" in ``runs`` (diverged runs are left out)."""
    ok = set(runs.loc[runs["status"] == "ok", "run"])
    return frame[frame["run"].isin(ok)]


def missing_runs_note(runs: pd.DataFrame) -> str:
    """One line naming every run not shown because its training did not finish ok, e.g.
    "not shown: mnist5k/fcn-d2-w8/nll/b200-lr10-it30/s0 diverged at iteration 3"."""
    bad = runs[runs["status"] != "ok"]
    parts = [f"{r.run} {r.status}" + (f" at iteration {int(r.diverged_at)}" if pd.notna(r.diverged_at) else "")
             for r in bad.itertuples()]
    return f"not shown: {'; '.join(parts)}" if parts else ""


def _note_missing(fig, runs: pd.DataFrame) -> None:
    note = missing_runs_note(runs)
    if note:
        fig.text(0.01, -0.02, note, fontsize=7, ha="left", va="top", wrap=True)


def _empty_figure(message: str, runs: pd.DataFrame):
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.text(0.5, 0.5, message, ha="center", va="center")
    ax.set_axis_off()
    _note_missing(fig, runs)
    return fig


def without_single_x_panels(data: pd.DataFrame, x: str, panel: str = "panel"):
    """(data, names): the rows of the panels with ≥ 2 values of ``x``, and the sorted names of the
    panels left out (a panel with one x shows no trend: figures name them in a note instead); all
    panels are kept (names empty) when none has two."""
    counts = data.groupby(panel)[x].nunique()
    single = sorted(counts[counts < 2].index)
    if len(single) < len(counts):
        return data[~data[panel].isin(single)], single
    return data, []


def alpha_vs_width(alpha: pd.DataFrame, runs: pd.DataFrame, method: str = "mohammadi",
                   learned_margin: float | None = None, agreement: pd.DataFrame | None = None):
    """α̂ at the end of training against FCN width, one line per depth, one panel per dataset × loss ×
    batch size (only the combinations that were run).

    Panels with a single width (e.g. the runs of a batch-size sweep) are named in a note, not drawn,
    unless no panel has more. Seeds give the band (mean ± sd). Runs that did not learn (``learned`` False in ``alpha`` or
    ``runs``) are drawn apart (hollow grey, dashed; sgnoise.figures.style). Runs whose status is not
    "ok" (diverged) are left out and named in a note under the figure. With ``agreement`` each point
    also shows its 95 % sampling interval and the systematic range over estimators and K1 policies
    (sgnoise.figures.style.alpha_line_panels)."""
    set_style()
    data = final_checkpoint_rows(with_learned(ok_runs_only(alpha, runs), runs), method, agreement=agreement)
    data = data[(data["model"] == "fcn") & data["alpha"].notna()].copy()
    if data.empty:
        return _empty_figure("no FCN runs with α estimates", runs)
    data["depth"] = data["depth"].astype(int)
    data["panel"] = data["dataset"] + " · " + data["loss"] + " · b=" + data["batch_size"].astype(int).astype(str)
    data, single = without_single_x_panels(data, "width")
    fig = alpha_line_panels(data, "width", "depth", "panel", "width", f"α̂ ({method}, pooled, last checkpoint)",
                            learned_margin=learned_margin, max_columns=4)
    notes = [missing_runs_note(runs)]
    if single:
        notes.append("one width only, not drawn (see alpha_vs_batch_size): " + ", ".join(single))
    note = ". ".join(n for n in notes if n)
    if note:
        fig.text(0.01, -0.02, note, fontsize=7, ha="left", va="top", wrap=True)
    return fig


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
        return _empty_figure("no runs with α estimates", runs)
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
    _note_missing(fig, runs)
    return fig
