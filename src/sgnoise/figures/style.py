"""Shared figure helpers: house style, atomic saving to several formats, and the one style in which
every α figure draws the runs that did not learn (hollow grey markers, dashed grey line)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sgnoise.atomic import atomic_path  # noqa: E402


def set_style() -> None:
    import seaborn as sns  # imported here: it pulls in scipy.stats (≈ 1.5 s), which not every figure needs

    sns.set_theme(context="paper", style="whitegrid", font_scale=1.1)


LAYOUT_CHECK_VARIABLE = "SGNOISE_LAYOUT_CHECK"


def _drawn_tick_labels(axis):
    """The major tick labels matplotlib draws: those of ticks inside the axis' view interval."""
    low, high = sorted(axis.get_view_interval())
    slack = 1e-9 * max(abs(low), abs(high), 1e-300)
    return [tick.label1 for tick in axis.get_major_ticks() if tick.label1.get_visible()
            and low - slack <= tick.get_loc() <= high + slack]


def _label_texts(fig):
    """(axes index, kind, Text) of every visible non-empty tick label, axis label and title."""
    out = []
    for index, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        for kind, texts in (("xtick", _drawn_tick_labels(ax.xaxis)), ("ytick", _drawn_tick_labels(ax.yaxis)),
                            ("label", [ax.xaxis.label, ax.yaxis.label, ax.title])):
            out += [(index, kind, t) for t in texts if t.get_visible() and t.get_text().strip()]
    return out


def label_overlaps(fig, tolerance_px: float = 1.0) -> list[str]:
    """Pairs of labels of ``fig`` whose drawn boxes overlap (each pair as one line of text): tick
    labels of one axis among themselves, and any tick label, axis label or title against those of
    the other panels. A figure that reads well has none."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [(i, kind, t, t.get_window_extent(renderer)) for i, kind, t in _label_texts(fig)]
    overlaps = []
    for a in range(len(texts)):
        for b in range(a + 1, len(texts)):
            (ia, ka, ta, ba), (ib, kb, tb, bb) = texts[a], texts[b]
            same_axis = ia == ib and ka == kb and ka != "label"
            if not (same_axis or ia != ib):
                continue
            width = min(ba.x1, bb.x1) - max(ba.x0, bb.x0)
            height = min(ba.y1, bb.y1) - max(ba.y0, bb.y0)
            if width > tolerance_px and height > tolerance_px:
                overlaps.append(f"panel {ia} {ka} {ta.get_text()!r} overlaps panel {ib} {kb} {tb.get_text()!r}")
    return overlaps


def save_figure(fig, paths) -> None:
    """Save ``fig`` to every path in ``paths`` (format from the suffix), atomically, then close it.
    With the environment variable SGNOISE_LAYOUT_CHECK set, also writes ``<first path>.layout.json``:
    the :func:`label_overlaps` of the figure (the tests' check of every figure kind)."""
    import os

    if isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__"):
        paths = [paths]
    if os.environ.get(LAYOUT_CHECK_VARIABLE):
        import json

        with open(f"{paths[0]}.layout.json", "w") as handle:
            json.dump(label_overlaps(fig), handle, indent=1)
    for path in paths:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=150, bbox_inches="tight", format=str(path).rsplit(".", 1)[-1])
    plt.close(fig)


def family_label(frame) -> "pd.Series":
    """The model family of each row, without its size: "fcn", "alexnet", "alexnet kaiming" (an AlexNet
    with a non-default ``init``), "vgg11", "vgg16 bn" (batch norm), "resnet bn", "vit", "vit adam" (an
    ``optimizer`` other than SGD): runs of one family differ only in size."""
    import pandas as pd

    label = frame["model"].astype(str)
    if "variant" in frame.columns:
        vgg = (frame["model"] == "vgg") & frame["variant"].notna()
        label = label.where(~vgg, "vgg" + pd.to_numeric(frame["variant"], errors="coerce").astype("Int64").astype(str))
    if "batch_norm" in frame.columns:
        bn = frame["batch_norm"].map(lambda v: v is True or v is np.True_ or str(v).strip().lower() == "true")
        label = label.where(~bn, label + " bn")
    if "init" in frame.columns:
        other = frame["init"].notna() & (frame["init"].astype(str) != "default")
        label = label.where(~other, label + " " + frame["init"].astype(str))
    if "optimizer" in frame.columns:
        adaptive = frame["optimizer"].notna() & (frame["optimizer"].astype(str) != "sgd")
        label = label.where(~adaptive, label + " " + frame["optimizer"].astype(str))
    return label


# ---------------------------------------------------------------- runs that did not learn, drawn apart
# One style for every α figure: hollow grey markers on a dashed grey line, and a legend entry saying so.
NOT_LEARNED_COLOUR = "0.55"
NOT_LEARNED_STYLE = dict(color=NOT_LEARNED_COLOUR, linestyle="--", marker="o", markerfacecolor="none",
                         markeredgecolor=NOT_LEARNED_COLOUR, zorder=1.5)


def not_learned(frame) -> "pd.Series":
    """Boolean mask of the rows of ``frame`` whose run did not learn: exactly those whose ``learned``
    column is False (as written by sgnoise.aggregate, also read back from CSV as "False"). Rows with
    ``learned`` NA (metrics missing) or a table without the column count as learned: not drawn apart."""
    import pandas as pd

    if "learned" not in frame.columns:
        return pd.Series(False, index=frame.index)

    def is_false(value):
        if isinstance(value, str):
            return value.strip().lower() == "false"
        return value is not None and not pd.isna(value) and not bool(value)

    return frame["learned"].map(is_false).astype(bool)


def with_learned(frame, runs=None):
    """``frame`` with a ``learned`` column: its own, or else the one of ``runs`` (by ``run``)."""
    if "learned" in frame.columns or runs is None or "learned" not in getattr(runs, "columns", ()):
        return frame
    return frame.merge(runs[["run", "learned"]], on="run", how="left")


def not_learned_label(margin=None) -> str:
    """The legend entry of the apart style, e.g. "hollow grey: did not learn (final train accuracy
    within 0.05 of chance)"; without a margin it names the config key."""
    within = f"{margin:g}" if margin is not None else "figures.learned_margin"
    return f"hollow grey: did not learn (final train accuracy within {within} of chance)"


def not_learned_handle(margin=None, **style):
    """A legend handle (Line2D) in the apart style, labelled :func:`not_learned_label`."""
    from matplotlib.lines import Line2D

    return Line2D([], [], **{**NOT_LEARNED_STYLE, **style}, label=not_learned_label(margin))


def plot_not_learned(ax, x, y, **style):
    """Draw the points (x, y) of a run that did not learn on ``ax`` in the apart style; ``style``
    overrides (e.g. ``ms``). Returns the Line2D."""
    kwargs = {**NOT_LEARNED_STYLE, **style}
    kwargs.setdefault("label", "_not learned")
    (line,) = ax.plot(x, y, **kwargs)
    return line


def is_not_learned_style(line) -> bool:
    """Whether a Line2D was drawn in the apart style (hollow markers on a dashed grey line)."""
    from matplotlib.colors import to_rgba

    face = line.get_markerfacecolor()
    hollow = isinstance(face, str) and face == "none" or to_rgba(face)[3] == 0
    return hollow and line.get_linestyle() == "--" and to_rgba(line.get_color()) == to_rgba(NOT_LEARNED_COLOUR)


def figure_legend_entries(fig, order=None):
    """The legend handles and labels of all axes of ``fig``, each label once (first handle wins), in
    the order met, or in ``order`` (labels not in ``order`` are dropped)."""
    handles, labels = [], []
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    if order is not None:
        order = [label for label in order if label in labels]
        handles, labels = [handles[labels.index(label)] for label in order], order
    return handles, labels


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
