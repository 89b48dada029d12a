"""Figures of α across the run grid and over training iterations (the paper's Figs. 3–6 kinds)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from sgnoise.plots.common import set_style


def final_checkpoint_rows(alpha: pd.DataFrame, method: str, view: str = "pooled") -> pd.DataFrame:
    """The rows of ``alpha`` for one method and view at each run's last checkpoint."""
    rows = alpha[(alpha["method"] == method) & (alpha["view"] == view)]
    last = rows.groupby("run")["iteration"].transform("max")
    return rows[rows["iteration"] == last]


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


def alpha_vs_width(alpha: pd.DataFrame, runs: pd.DataFrame, method: str = "mohammadi"):
    """α̂ at the end of training against FCN width, one line per depth, one panel per dataset × loss.

    Seeds give the error bars (mean ± sd). Runs whose status is not "ok" (diverged) are left out
    and named in a note under the figure."""
    set_style()
    data = final_checkpoint_rows(ok_runs_only(alpha, runs), method)
    data = data[data["model"] == "fcn"].copy()
    if data.empty:
        return _empty_figure("no FCN runs with α estimates", runs)
    data["depth"] = data["depth"].astype(int)
    data["panel"] = data["dataset"] + " · " + data["loss"] + " · b=" + data["batch_size"].astype(int).astype(str)
    grid = sns.relplot(data=data, x="width", y="alpha", hue="depth", col="panel", kind="line", marker="o",
                       errorbar="sd", palette="viridis", height=3.2, aspect=1.1, facet_kws=dict(sharey=True))
    grid.set(xscale="log")
    for ax in grid.axes.flat:
        ax.set_xscale("log", base=2)
        ax.axhline(2.0, color="grey", lw=0.8, ls=":")
    grid.set_titles("{col_name}")
    grid.set_axis_labels("width", f"α̂ ({method}, pooled, last checkpoint)")
    _note_missing(grid.figure, runs)
    return grid.figure


def alpha_over_iterations(alpha: pd.DataFrame, metrics: pd.DataFrame, runs: pd.DataFrame, method: str = "mohammadi",
                          phases: pd.DataFrame | None = None):
    """α̂ (pooled) and train/test accuracy against iteration: rows loss × {α, accuracy}, columns model
    (depth for FCNs), colour width (or scale). A triangle marks each run's detected phase change
    (the lowest α̂ before its jump; ``phases`` from sgnoise.phases.phase_change_table). Runs whose
    status is not "ok" (diverged) are left out and named in a note under the figure."""
    change = {} if phases is None else dict(zip(phases["run"], phases["phase_change_iteration"]))
    set_style()
    alpha, metrics = ok_runs_only(alpha, runs), ok_runs_only(metrics, runs)
    data = alpha[(alpha["method"] == method) & (alpha["view"] == "pooled")].copy()
    if data.empty:
        return _empty_figure("no runs with α estimates", runs)
    metrics = metrics.copy()
    for frame in (data, metrics):
        frame["size"] = frame["width"] if "width" in frame else np.nan
        frame["column"] = frame["dataset"] + " · " + frame["model"].astype(str)
        if "depth" in frame:
            is_fcn = frame["model"] == "fcn"
            frame.loc[is_fcn, "column"] = frame.loc[is_fcn, "column"] + " d" + frame.loc[is_fcn, "depth"].astype("Int64").astype(str)
        if "scale" in frame:
            frame["size"] = frame["size"].fillna(frame["scale"])
    losses = sorted(data["loss"].unique())
    columns = sorted(data["column"].unique())
    fig, axes = plt.subplots(2 * len(losses), len(columns), figsize=(3.4 * len(columns), 2.6 * 2 * len(losses)),
                             sharex=True, squeeze=False)
    sizes = sorted(s for s in data["size"].dropna().unique())
    colours = dict(zip(sizes, sns.color_palette("viridis", len(sizes))))
    for i, loss in enumerate(losses):
        for j, column in enumerate(columns):
            ax_alpha, ax_acc = axes[2 * i, j], axes[2 * i + 1, j]
            for size in sizes:
                sel = (data["loss"] == loss) & (data["column"] == column) & (data["size"] == size)
                for _, run_rows in data[sel].groupby("run"):
                    run_rows = run_rows.sort_values("iteration")
                    ax_alpha.plot(run_rows["iteration"] + 1, run_rows["alpha"], "o-", ms=3, color=colours[size],
                                  label=f"{size:g}")
                    run = run_rows["run"].iloc[0]
                    if pd.notna(change.get(run, np.nan)):
                        at = run_rows[run_rows["iteration"] == change[run]]
                        ax_alpha.plot(at["iteration"] + 1, at["alpha"] - 0.04, "^", ms=8, color=colours[size],
                                      markeredgecolor="black", label="phase change")
                msel = (metrics["loss"] == loss) & (metrics["column"] == column) & (metrics["size"] == size)
                for _, run_rows in metrics[msel].groupby("run"):
                    run_rows = run_rows.sort_values("iteration")
                    ax_acc.plot(run_rows["iteration"] + 1, run_rows["train_accuracy"], "-", color=colours[size])
                    ax_acc.plot(run_rows["iteration"] + 1, run_rows["test_accuracy"], "--", color=colours[size])
            ax_alpha.set_title(f"{column} · {loss}", fontsize=9)
            ax_alpha.axhline(2.0, color="grey", lw=0.8, ls=":")
            ax_alpha.set_xscale("log")
            ax_acc.set_ylim(0, 1.02)
            if j == 0:
                ax_alpha.set_ylabel("α̂ (pooled)")
                ax_acc.set_ylabel("accuracy\n(— train, -- test)")
    for ax in axes[-1]:
        ax.set_xlabel("iteration + 1")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    if unique:
        fig.legend(unique.values(), unique.keys(), title="width / scale", loc="upper right", bbox_to_anchor=(1.08, 0.98))
    fig.tight_layout()
    _note_missing(fig, runs)
    return fig
