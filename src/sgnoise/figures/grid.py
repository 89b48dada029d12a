"""Figures of α across the study grid: α̂ at the end of training against FCN width and depth, the
mini-batch size and the CNN size (the paper's Figs. 3–4 kinds), each line the mean over seeds with a
± 1 sd band (:func:`alpha_line_panels`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sgnoise.figures.style import (family_label, figure_legend_entries, message_figure, missing_runs_note,
                                  no_runs_figure, not_learned, not_learned_handle, not_learned_label, ok_runs_only,
                                  plot_not_learned, set_style, with_learned)


SYSTEMATIC_METHOD = "mohammadi"  # the estimator whose pooled α̂ the agreement table's systematic range brackets


def final_checkpoint_rows(alpha: pd.DataFrame, method: str, view: str = "pooled",
                          agreement: pd.DataFrame | None = None) -> pd.DataFrame:
    """The rows of ``alpha`` for one method and view at each run's last checkpoint; with ``agreement``
    (sgnoise.aggregate.estimator_agreement) and the paper's view and method, also its systematic range
    ``sys_low``, ``sys_high`` (drawn by :func:`alpha_line_panels`)."""
    rows = alpha[(alpha["method"] == method) & (alpha["view"] == view)]
    last = rows.groupby("run")["iteration"].transform("max")
    rows = rows[rows["iteration"] == last]
    if agreement is not None and len(agreement) and method == SYSTEMATIC_METHOD and view == "pooled":
        rows = rows.merge(agreement[["run", "iteration", "sys_low", "sys_high"]], on=["run", "iteration"], how="left")
    return rows


def without_single_x_panels(data: pd.DataFrame, x: str, panel: str = "panel"):
    """(data, names): the rows of the panels with ≥ 2 values of ``x``, and the sorted names of the
    panels left out (a panel with one x shows no trend: figures name them in a note instead); all
    panels are kept (names empty) when none has two."""
    counts = data.groupby(panel)[x].nunique()
    single = sorted(counts[counts < 2].index)
    if len(single) < len(counts):
        return data[~data[panel].isin(single)], single
    return data, []


SYSTEMATIC_LABEL = "systematic range: estimators × K1 policies"


def alpha_line_panels(data, x, hue, panel, xlabel, ylabel, *, log_x=True, learned_margin=None, max_columns=3,
                      hue_label=None):
    """One panel per value of ``panel`` (only values present in ``data``), one line per ``hue`` value:
    mean α̂ over seeds against ``x`` with a band of ± 1 sd where there are several; runs that did
    not learn (``learned`` False) are left out of the mean and drawn apart per run in the apart style
    (hollow grey markers, dashed grey line), with the legend entry :func:`not_learned_label`.
    Rows without a finite α̂ (diverged runs) are dropped first; a panel with none left is not drawn.
    Where ``data`` has ``sys_low``/``sys_high`` (sgnoise.aggregate.estimator_agreement), each point also
    gets its sampling interval (``ci_low``/``ci_high``, thin error bar; seed means) and the systematic
    range over estimators and K1 policies (a wide translucent bar, gid "systematic:<panel>:<hue>")."""
    import math

    import pandas as pd
    import seaborn as sns

    data = data[np.isfinite(pd.to_numeric(data["alpha"], errors="coerce"))].copy()
    apart = not_learned(data)
    systematic = False
    panels = sorted(data[panel].unique(), key=str)
    hues = sorted(data[hue].unique())
    colours = dict(zip(hues, sns.color_palette("viridis", len(hues))))
    columns = min(max_columns, max(len(panels), 1))
    rows = math.ceil(max(len(panels), 1) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.5 * columns, 3.2 * rows), sharey=True, squeeze=False)
    for ax in axes.flat[len(panels):]:
        fig.delaxes(ax)
    for ax, name in zip(axes.flat, panels):
        in_panel = data[panel] == name
        for value in hues:
            sel = in_panel & (data[hue] == value)
            learned = data[sel & ~apart]
            if len(learned):
                stats = learned.groupby(x)["alpha"].agg(["mean", "std", "count"]).sort_index()
                ax.plot(stats.index, stats["mean"], "o-", ms=4, color=colours[value], label=str(value))
                if {"sys_low", "sys_high"} <= set(learned.columns) and learned["sys_low"].notna().any():
                    systematic = True
                    ranges = learned.groupby(x)[["ci_low", "ci_high", "sys_low", "sys_high"]].mean().reindex(stats.index)
                    # bars of the lines of one panel side by side: shifted by a few % of a doubling (log x) or of the x step
                    shift = (hues.index(value) - (len(hues) - 1) / 2) * 0.07
                    at = np.asarray(ranges.index, dtype=float)
                    at = at * 2.0**shift if log_x else at + shift * (np.min(np.diff(np.unique(data[x]))) if data[x].nunique() > 1 else 1)
                    ax.vlines(at, ranges["sys_low"], ranges["sys_high"], color=colours[value], lw=6,
                              alpha=0.25, gid=f"systematic:{name}:{value}")
                    ax.errorbar(at, stats["mean"], yerr=[stats["mean"] - ranges["ci_low"], ranges["ci_high"] - stats["mean"]],
                                fmt="none", ecolor=colours[value], elinewidth=1.0, capsize=2.5)
                spread = stats["std"].where(stats["count"] > 1)
                if spread.notna().any():
                    ax.fill_between(stats.index, stats["mean"] - spread.fillna(0), stats["mean"] + spread.fillna(0),
                                    color=colours[value], alpha=0.2, lw=0)
            for _, run_rows in data[sel & apart].groupby("run"):
                run_rows = run_rows.sort_values(x)
                plot_not_learned(ax, run_rows[x], run_rows["alpha"], ms=4)
        if log_x:
            ax.set_xscale("log", base=2)
        ax.axhline(2.0, color="grey", lw=0.8, ls=":")
        ax.set_title(str(name), fontsize=9)
        ax.set_xlabel(xlabel)
    for row in axes:
        row[0].set_ylabel(ylabel)
    handles, labels = figure_legend_entries(fig)
    if systematic:
        from matplotlib.lines import Line2D

        handles += [Line2D([], [], color="0.4", lw=7, alpha=0.3), Line2D([], [], color="0.4", lw=1.0, marker="_", ms=6)]
        labels += [SYSTEMATIC_LABEL, "95 % sampling interval"]
    if apart.any():
        handles.append(not_learned_handle(learned_margin, ms=4))
        labels.append(not_learned_label(learned_margin))
    if handles:
        fig.legend(handles, labels, title=hue_label or hue, loc="upper left", bbox_to_anchor=(1.0, 0.98), fontsize=8,
                   title_fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def alpha_vs_width(alpha: pd.DataFrame, runs: pd.DataFrame, method: str = "mohammadi",
                   learned_margin: float | None = None, agreement: pd.DataFrame | None = None):
    """α̂ at the end of training against FCN width, one line per depth, one panel per dataset × loss ×
    batch size (only the combinations that were run).

    Panels with a single width (e.g. the runs of a batch-size sweep) are named in a note, not drawn,
    unless no panel has more. Seeds give the band (mean ± sd). Runs that did not learn (``learned`` False in ``alpha`` or
    ``runs``) are drawn apart (hollow grey, dashed; sgnoise.figures.style). Runs whose status is not
    "ok" (diverged) are left out and named in a note under the figure. With ``agreement`` each point
    also shows its 95 % sampling interval and the systematic range over estimators and K1 policies
    (:func:`alpha_line_panels`)."""
    set_style()
    data = final_checkpoint_rows(with_learned(ok_runs_only(alpha, runs), runs), method, agreement=agreement)
    data = data[(data["model"] == "fcn") & data["alpha"].notna()].copy()
    if data.empty:
        return no_runs_figure("no FCN runs with α estimates", runs)
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

def _line_grid(data, x, hue, panel, xlabel, method, log_x=True, learned_margin=None):
    return alpha_line_panels(data, x, hue, panel, xlabel, f"α̂ ({method}, pooled, last checkpoint)", log_x=log_x,
                             learned_margin=learned_margin)


def alpha_vs_depth(alpha: pd.DataFrame, method: str = "mohammadi", learned_margin: float | None = None,
                   agreement: pd.DataFrame | None = None):
    """α̂ at the end of training against FCN depth, one line per width (paper Figs. 3–4 kind). Runs
    that did not learn (``learned`` False) are drawn apart (hollow grey, dashed)."""
    set_style()
    data = final_checkpoint_rows(alpha, method, agreement=agreement)
    data = data[(data["model"] == "fcn") & data["alpha"].notna()].copy()
    if data.empty or data["depth"].nunique() < 2:
        return message_figure("no FCN depth sweep in this study")
    data["depth"], data["width"] = data["depth"].astype(int), data["width"].astype(int)
    data["panel"] = data["dataset"] + " · " + data["loss"] + " · b=" + data["batch_size"].astype(int).astype(str)
    data, single = without_single_x_panels(data, "depth")
    fig = _line_grid(data, "depth", "width", "panel", "depth (Linear layers)", method, log_x=False,
                     learned_margin=learned_margin)
    if single:
        fig.text(0.01, -0.02, "one depth only, not drawn (see alpha_vs_batch_size): " + ", ".join(single), fontsize=7,
                 ha="left", va="top", wrap=True)
    return fig


def batch_size_sweeps(alpha: pd.DataFrame, method: str, agreement: pd.DataFrame | None = None) -> pd.DataFrame:
    """Final-checkpoint rows of the configurations (all keys but batch size) run at ≥ 2 batch sizes."""
    data = final_checkpoint_rows(alpha, method, agreement=agreement)
    data = data[data["alpha"].notna()].copy()
    keys = [k for k in ["dataset", "model", "depth", "width", "scale", "variant", "batch_norm", "init", "loss", "lr", "seed"]
            if k in data]
    data["config"] = data[keys].apply(lambda column: column.map(str)).agg(" ".join, axis=1)
    counts = data.groupby("config")["batch_size"].nunique()
    return data[data["config"].isin(counts[counts >= 2].index)]


def alpha_vs_batch_size(alpha: pd.DataFrame, method: str = "mohammadi", learned_margin: float | None = None,
                        agreement: pd.DataFrame | None = None):
    """α̂ at the end of training against the mini-batch size b (paper: b has little effect on α). Runs
    that did not learn (``learned`` False) are drawn apart (hollow grey, dashed)."""
    set_style()
    data = batch_size_sweeps(alpha, method, agreement)
    if data.empty:
        return message_figure("no batch-size sweep in this study")
    data["architecture"] = family_label(data)
    if "depth" in data:
        fcn = data["model"] == "fcn"
        data.loc[fcn, "architecture"] = ("fcn d" + data.loc[fcn, "depth"].astype("Int64").astype(str) + " w"
                                         + data.loc[fcn, "width"].astype("Int64").astype(str))
    if "scale" in data:
        cnn = data["model"] == "alexnet"
        data.loc[cnn, "architecture"] += " c" + data.loc[cnn, "scale"].astype("Int64").astype(str)
    if "width" in data:
        vgg = data["model"] == "vgg"
        data.loc[vgg, "architecture"] += " w" + data.loc[vgg, "width"].astype("Int64").astype(str)
    data["panel"] = data["dataset"] + " · " + data["loss"]
    return _line_grid(data, "batch_size", "architecture", "panel", "batch size b", method, learned_margin=learned_margin)


def alpha_vs_scale(alpha: pd.DataFrame, method: str = "mohammadi", learned_margin: float | None = None,
                   agreement: pd.DataFrame | None = None):
    """α̂ at the end of training of the CNNs against their size: AlexNet channel scale, VGG base width.
    Runs that did not learn (``learned`` False) are drawn apart (hollow grey, dashed)."""
    set_style()
    data = final_checkpoint_rows(alpha, method, agreement=agreement)
    data = data[data["model"].isin(["alexnet", "vgg"]) & data["alpha"].notna()].copy()
    if data.empty:
        return message_figure("no AlexNet or VGG runs in this study")
    size = pd.Series(np.nan, index=data.index)
    if "scale" in data:
        size = size.fillna(data["scale"])
    if "width" in data:
        size = size.fillna(data["width"])
    data["size"] = size
    data["architecture"] = family_label(data)
    data["panel"] = data["dataset"] + " · " + data["loss"]
    return _line_grid(data, "size", "architecture", "panel", "channel scale (AlexNet ch, VGG base width)", method,
                      learned_margin=learned_margin)


