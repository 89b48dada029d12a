"""Shared figure helpers: house style, atomic saving to several formats, the layout check, the one style
in which every α figure draws the runs that did not learn (hollow grey markers, dashed grey line), and
the runs a figure shows (status "ok") with the notes and placeholder figures for the others."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from sgnoise.atomic import atomic_path  # noqa: E402


def set_style() -> None:
    """The house style of every figure: seaborn's paper context, white grid."""
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


# ---------------------------------------------------------------- the runs a figure shows, and the notes on the others
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


def note_missing_runs(fig, runs: pd.DataFrame) -> None:
    """Write :func:`missing_runs_note` of ``runs`` under ``fig`` (nothing when every run finished ok)."""
    note = missing_runs_note(runs)
    if note:
        fig.text(0.01, -0.02, note, fontsize=7, ha="left", va="top", wrap=True)


def no_runs_figure(message: str, runs: pd.DataFrame):
    """The figure drawn when no run has anything to show: ``message`` in a 5 × 3 in frame, no axes,
    and :func:`note_missing_runs` under it."""
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.text(0.5, 0.5, message, ha="center", va="center")
    ax.set_axis_off()
    note_missing_runs(fig, runs)
    return fig


def message_figure(message: str):
    """The figure drawn when the study has nothing of a figure's kind: ``message`` (wrapped) in a
    5 × 2.5 in frame, no axes."""
    fig, ax = plt.subplots(figsize=(5, 2.5))
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    ax.set_axis_off()
    return fig


def require_columns(frame: pd.DataFrame, columns, name) -> None:
    """Raise ValueError "<name> lacks columns [...]" unless ``frame`` has every one of ``columns``."""
    missing = set(columns) - set(frame.columns)
    if missing:
        raise ValueError(f"{name} lacks columns {sorted(missing)}")


def with_run_column(frame: pd.DataFrame):
    """(frame, runs): ``frame`` with a ``run`` column (all "" when it had none: one run) and its runs in
    the order met."""
    if "run" not in frame.columns:
        frame = frame.assign(run="")
    return frame, list(dict.fromkeys(frame["run"]))


