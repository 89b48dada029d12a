"""Figures of the heavy-tailed-iterates study (:mod:`sgnoise.iterates`): the tail index of SGD iterates on
linear regression against the exact theory, and of FCN weight fluctuations, against η/b."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import ticker
from matplotlib.lines import Line2D

from sgnoise.iterates import summarise_measured
from sgnoise.figures.style import not_learned, not_learned_handle, plot_not_learned, set_style

__all__ = ["iterate_alpha_vs_eta_over_b", "iterate_alpha_nn", "batch_colours"]

TARGET_MARKERS = {"coordinate": "o", "norm": "^"}
TARGET_LABELS = {"coordinate": "coordinates: median α̂ (bar: median 95 % CI)", "norm": "norm ‖x‖: α̂ (95 % CI)"}


def batch_colours(batch_sizes) -> dict:
    """One colour per batch size, in increasing order (the same b gets the same colour in every panel)."""
    sizes = sorted(set(int(b) for b in batch_sizes))
    return dict(zip(sizes, sns.color_palette("viridis", n_colors=max(len(sizes), 1))))


def _x_axis(ax, values) -> None:
    """Log x when the values span more than a factor 3, else linear; plain tick labels, few of them."""
    values = np.asarray([v for v in values if np.isfinite(v) and v > 0])
    if values.size and values.max() / values.min() > 3:
        ax.set_xscale("log")
        decades = math.log10(values.max() / values.min())
        ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0,) if decades > 1.5 else (1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    else:
        ax.xaxis.set_major_locator(ticker.MaxNLocator(3))
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:.4g}"))


def _errorbar(ax, x, y, low, high, **style):
    x, y, low, high = (pd.to_numeric(pd.Series(np.asarray(v)), errors="coerce").to_numpy(float) for v in (x, y, low, high))
    low = np.where(np.isfinite(low), low, y)
    high = np.where(np.isfinite(high), high, y)
    yerr = np.vstack([np.clip(y - low, 0, None), np.clip(high - y, 0, None)])
    return ax.errorbar(x, y, yerr=yerr, **style)


def iterate_alpha_vs_eta_over_b(measured: pd.DataFrame, theory: pd.DataFrame, curves: pd.DataFrame,
                                methods=None, y_max: float = 4.5):
    """Linear regression: α of the stationary SGD iterates against η/b, one column per dimension d and one
    row per estimator. Lines: the exact theoretical α (quadrature of the moment-Lyapunov function, one
    colour per batch size b); markers: α̂ of the simulated iterates, circles the median over coordinates
    (bar: median of their 95 % intervals), triangles the norm (its 95 % interval), slightly offset. The
    dotted line at 2 is where the estimators saturate (finite variance); the theory goes on above it.
    Settings that were not simulated (mixing too slow for ``max_steps``) leave their line without markers,
    and the panel says so."""
    set_style()
    dims = sorted(set(curves["dim"]))
    methods = list(methods) if methods is not None else (list(dict.fromkeys(measured["method"])) or ["mohammadi"])
    colours = batch_colours(curves["batch_size"])
    summary = summarise_measured(measured) if len(measured) else measured
    fig, axes = plt.subplots(len(methods), len(dims), figsize=(3.6 * len(dims), 3.0 * len(methods) + 0.6),
                             squeeze=False, sharey=True)
    for row, method in enumerate(methods):
        for column, d in enumerate(dims):
            ax = axes[row][column]
            lines = curves[curves["dim"] == d]
            for b, line in lines.groupby("batch_size"):
                line = line.sort_values("eta_over_b")
                ax.plot(line["eta_over_b"], np.clip(line["theory_alpha"], 0, y_max * 1.5), color=colours[int(b)], lw=1.4,
                        zorder=2)
            points = summary[(summary["dim"] == d) & (summary["method"] == method)] if len(summary) else summary
            for (b, target), group in (points.groupby(["batch_size", "target"]) if len(points) else []):
                group = group.sort_values("eta_over_b")
                shift = 1.0 if target == "coordinate" else 1.015
                _errorbar(ax, group["eta_over_b"] * shift, group["alpha"], group["ci_low"], group["ci_high"],
                          fmt=TARGET_MARKERS[target], ms=4.5, color=colours[int(b)], mfc="white" if target == "norm" else
                          colours[int(b)], mew=1.0, elinewidth=0.9, capsize=1.5, lw=0, zorder=3)
            ax.axhline(2.0, color="grey", lw=0.8, ls=":", zorder=1)
            settings = theory[theory["dim"] == d]
            if len(settings) and not settings["simulated"].astype(bool).any():
                ax.text(0.03, 0.04, "theory only: mixing needs\nmore than max_steps steps", transform=ax.transAxes,
                        fontsize=7.5, color="0.3", va="bottom")
            _x_axis(ax, lines["eta_over_b"])
            ax.set_ylim(0, y_max)
            ax.set_title(f"d = {d}" + (f"  ·  {method}" if len(methods) > 1 else ""), fontsize=9)
            if row == len(methods) - 1:
                ax.set_xlabel("η / b")
        axes[row][0].set_ylabel(f"tail index α ({method})")
    handles = [Line2D([], [], color=colours[b], lw=1.4, label=f"b = {b}") for b in colours]
    handles += [Line2D([], [], color="0.3", lw=1.4, label="theory: root of log E‖M e₁‖^α = 0"),
                Line2D([], [], color="0.3", marker="o", lw=0, ms=4.5, label=TARGET_LABELS["coordinate"]),
                Line2D([], [], color="0.3", marker="^", mfc="white", lw=0, ms=4.5, label=TARGET_LABELS["norm"]),
                Line2D([], [], color="grey", ls=":", lw=0.8, label="α = 2: estimators saturate above")]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=7.5, frameon=False, bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(rect=(0, 0.1 if len(methods) > 1 else 0.16, 1, 1))
    return fig


def iterate_alpha_nn(table: pd.DataFrame, method: str | None = None, learned_margin: float | None = None,
                     y_max: float | None = None):
    """FCNs: α̂ of the weights' fluctuations around their running mean, per layer (columns) and network
    (rows), against η/b (log axis), one colour per batch size, 95 % intervals (batch means over stretches of
    iterations). Networks that did not learn (diverged, or final training accuracy within ``learned_margin``
    of chance, as figures.learned_margin for the study's runs) are drawn apart in the study's style
    (hollow grey) and left out of the lines."""
    set_style()
    if method is None:
        method = table["method"].iloc[0]
    data = table[table["method"] == method].copy()
    if "learned" not in data.columns:
        margin = 0.05 if learned_margin is None else learned_margin
        diverged = data["diverged"].astype(str).str.lower().eq("true")
        data["learned"] = ~diverged & (data["final_train_accuracy"] > data["chance_accuracy"] + margin)
    models = list(dict.fromkeys(data.sort_values(["depth", "width"])["model"]))
    depth = {m: int(data.loc[data["model"] == m, "depth"].iloc[0]) for m in models}
    columns = max(depth.values())
    colours = batch_colours(data["batch_size"])
    apart = not_learned(data)
    finite = data[np.isfinite(data["alpha"])]
    top = y_max or float(min(max(2.4, np.nanmax(finite["ci_high"].clip(upper=8)) + 0.15 if len(finite) else 2.4), 8))
    fig, axes = plt.subplots(len(models), columns, figsize=(3.2 * columns, 2.7 * len(models) + 0.5), squeeze=False,
                             sharey=True)
    for row, model in enumerate(models):
        for layer in range(columns):
            ax = axes[row][layer]
            if layer >= depth[model]:
                fig.delaxes(ax)
                continue
            in_panel = (data["model"] == model) & (data["layer"] == layer)
            for b in colours:
                sel = data[in_panel & (data["batch_size"] == b) & ~apart].sort_values("eta_over_b")
                sel = sel[np.isfinite(sel["alpha"])]
                if len(sel):
                    _errorbar(ax, sel["eta_over_b"], sel["alpha"], sel["ci_low"], sel["ci_high"], fmt="o-", ms=4,
                              color=colours[b], elinewidth=0.9, capsize=1.5, lw=1.0)
            gone = data[in_panel & apart & np.isfinite(data["alpha"])]
            for _, point in gone.iterrows():
                plot_not_learned(ax, [point["eta_over_b"]], [point["alpha"]], ms=4, lw=0)
            ax.axhline(2.0, color="grey", lw=0.8, ls=":")
            _x_axis(ax, data.loc[in_panel, "eta_over_b"])
            ax.set_ylim(0, top)
            name = "output layer" if layer == depth[model] - 1 else f"layer {layer + 1}"
            ax.set_title(f"{model}, {name}", fontsize=9)
            ax.set_xlabel("η / b")
        axes[row][0].set_ylabel(f"α̂ of fluctuations ({method})")
    handles = [Line2D([], [], color=colours[b], marker="o", ms=4, label=f"b = {b}") for b in colours]
    if apart.any():
        handles.append(not_learned_handle(learned_margin, ms=4, lw=0))
    handles.append(Line2D([], [], color="grey", ls=":", lw=0.8, label="α = 2"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=7.5, frameon=False,
               bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig
