"""Figures of the Lévy-SDE first-exit study (issue 4). Each takes the tidy tables written by the
``sde_simulate_*`` rules (see :mod:`sgnoise.sde`) and returns a matplotlib Figure in the house style."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import ticker
from matplotlib.lines import Line2D

from sgnoise.figures.style import set_style

__all__ = [
    "exit_vs_eps_figure",
    "exit_vs_width_figure",
    "exit_vs_depth_figure",
    "exit_distribution_figure",
    "levy_paths_figure",
    "discrete_exit_figure",
]

Z_95 = 1.96


def _alpha_colours(alphas) -> dict:
    """One colour per α, the same α always the same colour; α = 2 (Brownian) in black."""
    alphas = sorted(set(float(a) for a in alphas))
    heavy = [a for a in alphas if a < 2.0]
    palette = sns.color_palette("viridis", n_colors=max(len(heavy), 1))
    colours = {a: palette[i] for i, a in enumerate(heavy)}
    colours[2.0] = (0.0, 0.0, 0.0)
    return colours


def _alpha_label(alpha: float) -> str:
    return "α = 2 (Brownian)" if alpha == 2.0 else f"α = {alpha:g}"


def _legend_for_lines(ax, colours, extra_title=""):
    handles = [Line2D([], [], color=colours[a], marker="o", label=_alpha_label(a)) for a in sorted(colours)]
    handles += [
        Line2D([], [], color="grey", marker="o", linestyle="-", label="simulation (95 % CI)"),
        Line2D([], [], color="grey", linestyle="--", label="theory"),
    ]
    ax.legend(handles=handles, title=extra_title or None, fontsize="small", frameon=True)


def _sweep_panel(ax, summary: pd.DataFrame, x: str, colours: dict) -> None:
    """Theory (dashed) and simulated means with 95 % intervals (markers) against column ``x``, one colour per α.

    The y range follows the simulations and the α < 2 theory; the α = 2 theory, exponential in
    1/ε² and in the depth, is drawn where it fits and runs off the top beyond.
    """
    for alpha, group in summary.groupby("alpha"):
        group = group.sort_values(x)
        colour = colours[float(alpha)]
        theory = group[np.isfinite(group["theory"])]
        ax.plot(theory[x], theory["theory"], linestyle="--", color=colour, linewidth=1.2)
        simulated = group[group["mean_exit_time"].notna()]
        if len(simulated):
            ax.errorbar(
                simulated[x], simulated["mean_exit_time"], yerr=Z_95 * simulated["sem"].fillna(0.0),
                color=colour, marker="o", markersize=4, linewidth=1.0, capsize=2,
            )
    shown = pd.concat([summary["mean_exit_time"], summary.loc[summary["alpha"] < 2.0, "theory"]]).dropna()
    shown = shown[(shown > 0) & np.isfinite(shown)]
    if len(shown):
        ax.set_ylim(shown.min() / 2.0, shown.max() * 5.0)


def _plain_log_ticks(axis) -> None:
    """Log axis labelled 0.05, 0.1, 0.2, 0.5, 1, 2 … instead of powers of ten."""
    axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    axis.set_minor_formatter(ticker.NullFormatter())


def _check_columns(table: pd.DataFrame, columns, name: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{name} table lacks column(s) {missing}")


SWEEP_COLUMNS = ["alpha", "eps", "half_width", "curvature", "barrier_height", "theory", "mean_exit_time", "sem"]


def _sweep_figure(summary: pd.DataFrame, study: str, x: str, xlabel: str, log_x: bool, title: str):
    """Mean exit time (log scale) against the swept column ``x``, one line per α, with the theory lines."""
    _check_columns(summary, SWEEP_COLUMNS, study)
    set_style()
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    colours = _alpha_colours(summary["alpha"])
    _sweep_panel(ax, summary, x, colours)
    ax.set(yscale="log", xlabel=xlabel, ylabel="mean first exit time")
    if log_x:
        ax.set_xscale("log")
        _plain_log_ticks(ax.xaxis)
    ax.set_title(title, fontsize="medium")
    _legend_for_lines(ax, colours)
    return fig


def exit_vs_eps_figure(summary: pd.DataFrame):
    """Mean exit time against ε, log-log: slope −α for α < 2 (Imkeller–Pavlyukevich), exp(ΔU/ε²) for α = 2."""
    first = summary.iloc[0]
    return _sweep_figure(summary, "exit_vs_eps", "eps", "noise amplitude ε", True,
                         f"{first['well']} well, k = {first['curvature']:g}, basin (−{first['half_width']:g}, "
                         f"{first['half_width']:g})")


def exit_vs_width_figure(summary: pd.DataFrame):
    """Mean exit time against the basin half-width a at fixed ε and barrier height: ∝ a^α for α < 2."""
    first = summary.iloc[0]
    return _sweep_figure(summary, "exit_vs_width", "half_width", "basin half-width a (basin (−a, a))", True,
                         f"{first['well']} well, barrier height {first['barrier_height']:g}, ε = {first['eps']:g}")


def exit_vs_depth_figure(summary: pd.DataFrame):
    """Mean exit time against barrier height at fixed width and ε: flat for α < 2, exponential for α = 2."""
    first = summary.iloc[0]
    return _sweep_figure(summary, "exit_vs_depth", "barrier_height", "barrier height H", False,
                         f"{first['well']} well, half-width {first['half_width']:g}, ε = {first['eps']:g}")


def exit_distribution_figure(times: pd.DataFrame):
    """τ / E τ(theory) against Exp(1): survival function on a log scale (left) and Q–Q plot (right)."""
    _check_columns(times, ["alpha", "eps", "exit_time", "theory"], "exit_distribution")
    set_style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    colours = _alpha_colours(times["alpha"])
    upper = 0.0
    for (alpha, eps), group in times.groupby(["alpha", "eps"]):
        scaled = np.sort(group["exit_time"].to_numpy() / group["theory"].iloc[0])
        scaled = scaled[np.isfinite(scaled)]
        n = scaled.size
        if n == 0:
            continue
        survival = 1.0 - np.arange(1, n + 1) / (n + 1)
        label = f"{_alpha_label(float(alpha))}, ε = {eps:g} (n = {n})"
        colour = colours[float(alpha)]
        left.step(scaled, survival, where="post", color=colour, label=label)
        exponential_quantiles = -np.log(1.0 - np.arange(1, n + 1) / (n + 1))
        right.plot(exponential_quantiles, scaled, ".", markersize=3, color=colour, label=label)
        upper = max(upper, scaled[-1], exponential_quantiles[-1])
    s = np.linspace(0.0, upper, 200)
    left.plot(s, np.exp(-s), "k--", linewidth=1.2, label="Exp(1): exp(−s)")
    left.set(yscale="log", xlabel="s = τ / E τ (theory)", ylabel="P(τ / E τ > s)")
    left.legend(fontsize="small")
    right.plot([0, upper], [0, upper], "k--", linewidth=1.2, label="y = x")
    right.set(xlabel="Exp(1) quantile", ylabel="quantile of τ / E τ (theory)")
    fig.suptitle("First exit time scaled by its theoretical mean", fontsize="medium")
    return fig


def levy_paths_figure(paths: pd.DataFrame):
    """Sample paths of α-stable Lévy motion, one panel per α: the smaller α, the bigger and rarer the jumps."""
    _check_columns(paths, ["alpha", "path", "t", "x"], "levy_paths")
    set_style()
    alphas = sorted(paths["alpha"].unique())
    fig, axes = plt.subplots(1, len(alphas), figsize=(3.0 * len(alphas), 3.2), squeeze=False)
    for ax, alpha in zip(axes[0], alphas):
        group = paths[paths["alpha"] == alpha]
        colours = sns.color_palette("deep", n_colors=group["path"].nunique())
        for colour, (_, path) in zip(colours, group.groupby("path")):
            ax.plot(path["t"], path["x"], color=colour, linewidth=0.8, drawstyle="steps-post")
        ax.set(title=_alpha_label(float(alpha)), xlabel="t")
    axes[0][0].set_ylabel("L_t")
    fig.suptitle("α-stable Lévy motion, L_1 ~ SαS(α, 1) (each panel its own scale)", fontsize="medium")
    fig.tight_layout()
    return fig


def discrete_exit_figure(table: pd.DataFrame):
    """Discrete SGD-like exit time over its continuous small-noise theory, against step size η, per dimension.

    One panel per noise kind; 1 (dotted) is agreement with the continuous Lévy-SDE theory.
    """
    _check_columns(table, ["alpha", "eps", "noise", "dim", "step_size", "radius", "curvature", "theory",
                           "mean_exit_time", "sem"], "discrete_exit")
    set_style()
    noises = list(dict.fromkeys(table["noise"]))
    dims = sorted(table["dim"].unique())
    palette = dict(zip(dims, sns.color_palette("rocket", n_colors=len(dims) + 1)))
    fig, axes = plt.subplots(1, len(noises), figsize=(5.0 * len(noises), 4.2), sharey=True, squeeze=False)
    for ax, noise in zip(axes[0], noises):
        for dim in dims:
            group = table[(table["noise"] == noise) & (table["dim"] == dim) & table["mean_exit_time"].notna()]
            group = group.sort_values("step_size")
            ax.errorbar(group["step_size"], group["mean_exit_time"] / group["theory"],
                        yerr=Z_95 * group["sem"].fillna(0.0) / group["theory"], color=palette[dim], marker="o",
                        markersize=4, linewidth=1.0, capsize=2, label=f"d = {dim}")
        ax.axhline(1.0, color="grey", linestyle=":", linewidth=1.0)
        ax.set(xscale="log", xlabel="step size η", title=f"{noise} noise")
    axes[0][0].set_ylabel("mean exit time / continuous theory")
    axes[0][-1].legend(fontsize="small", title="dimension")
    first = table.iloc[0]
    fig.suptitle(f"SGD-like recursion, f(w) = {first['curvature']:g}·|w|²/2, exit from |w| < {first['radius']:g}, "
                 f"α = {first['alpha']:g}, ε = {first['eps']:g}", fontsize="medium")
    fig.tight_layout()
    return fig


FIGURE_FUNCTIONS = {
    "sde_exit_vs_eps": exit_vs_eps_figure,
    "sde_exit_vs_width": exit_vs_width_figure,
    "sde_exit_vs_depth": exit_vs_depth_figure,
    "sde_exit_distribution": exit_distribution_figure,
    "sde_levy_paths": levy_paths_figure,
    "sde_discrete_exit": discrete_exit_figure,
}
"""The SDE figures of sgnoise.figures.FIGURES: figure name → function of the one table it draws."""
