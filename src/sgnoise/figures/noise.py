"""Figures of the noise itself: the norms of the mini-batch noise vectors against the Gaussian model
(the paper's Fig. 1 kind), and the noise coordinates against their fitted Gaussian and SαS laws."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator
from scipy import stats

from sgnoise.figures.style import message_figure, set_style
from sgnoise.sde.levy import sample_sas


def noise_norm_histogram(norms: pd.DataFrame):
    """Histogram of the mini-batch noise norms ‖U_k‖ against norms of Gaussian vectors with the same
    per-coordinate variances, at each example run's last checkpoint (the paper's Fig. 1 kind)."""
    set_style()
    runs = list(dict.fromkeys(norms["run"]))
    if not runs:
        return message_figure("no example runs")
    fig, axes = plt.subplots(1, len(runs), figsize=(3.6 * len(runs), 3.0), squeeze=False)
    for ax, run in zip(axes[0], runs):
        rows = norms[norms["run"] == run]
        rows = rows[rows["iteration"] == rows["iteration"].max()]
        bins = np.histogram_bin_edges(rows["norm"], bins=30)
        for kind, colour, label in (("noise", "C3", "gradient noise"), ("gaussian", "C0", "Gaussian, same variances")):
            ax.hist(rows.loc[rows["kind"] == kind, "norm"], bins=bins, alpha=0.6, color=colour, label=label, density=True)
        ax.set_title(f"{run}\niteration {int(rows['iteration'].max())}", fontsize=7)
        ax.set_xlabel("‖U_k‖ (stored coordinates)")
    axes[0, 0].set_ylabel("density")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def coordinate_distribution(coordinates: pd.DataFrame, fits: pd.DataFrame):
    """Per example run, last checkpoint: histogram of pooled noise coordinates (log density) with the
    fitted Gaussian and SαS densities, and a QQ plot against both."""
    set_style()
    runs = list(dict.fromkeys(coordinates["run"]))
    if not runs:
        return message_figure("no example runs")
    fig, axes = plt.subplots(len(runs), 2, figsize=(8, 3.0 * len(runs)), squeeze=False)
    for (ax_hist, ax_qq), run in zip(axes, runs):
        rows = coordinates[coordinates["run"] == run]
        iteration = rows["iteration"].max()
        values = np.sort(rows.loc[rows["iteration"] == iteration, "value"].to_numpy())
        fit = fits[(fits["run"] == run) & (fits["iteration"] == iteration)].iloc[0]
        if not (np.isfinite(float(fit["alpha"])) and np.count_nonzero(values)):
            for ax in (ax_hist, ax_qq):
                ax.text(0.5, 0.5, f"{run}, iteration {iteration}:\nno non-zero noise to fit", ha="center", va="center",
                        transform=ax.transAxes, fontsize=8)
                ax.set_axis_off()
            continue
        alpha, scale, sd = min(float(fit["alpha"]), 2.0), float(fit["sas_scale"]), float(fit["gaussian_sd"])
        sas = stats.levy_stable(alpha, 0.0, scale=scale)
        # SαS quantiles from a large seeded sample (levy_stable.ppf inverts the cdf numerically: slow)
        sas_sample = sample_sas(alpha, 400_000, scale=scale, rng=np.random.default_rng(0))
        limit = np.quantile(np.abs(values), 0.999)
        density, _, _ = ax_hist.hist(values, bins=np.linspace(-limit, limit, 80), density=True, color="C7", alpha=0.7,
                                     label="noise coordinates")
        grid = np.linspace(-limit, limit, 121)
        ax_hist.plot(grid, stats.norm.pdf(grid, scale=sd), "C0", label=f"Gaussian (sd {sd:.2g})")
        ax_hist.plot(grid, sas.pdf(grid), "C3", label=f"SαS (α̂ {alpha:.2f})")
        ax_hist.set_yscale("log")
        ax_hist.set_ylim(0.3 * density[density > 0].min(), 3 * max(density.max(), sas.pdf(0.0)))
        ax_hist.set_title(f"{run}, iteration {int(iteration)}", fontsize=7)
        ax_hist.legend(fontsize=7)
        probabilities = (np.arange(1, 100) - 0.5) / 99
        probabilities = np.concatenate([[0.001, 0.005], probabilities, [0.995, 0.999]])
        sample_q = np.quantile(values, probabilities)
        ax_qq.plot(stats.norm.ppf(probabilities, scale=sd), sample_q, "o", ms=3, color="C0", label="vs Gaussian")
        ax_qq.plot(np.quantile(sas_sample, probabilities), sample_q, "s", ms=3, color="C3", label="vs SαS")
        low, high = sample_q.min(), sample_q.max()
        ax_qq.plot([low, high], [low, high], "k:", lw=0.8)
        ax_qq.set_xlim(low * 1.5, high * 1.5)
        ax_qq.set_xlabel("theoretical quantile")
        ax_qq.set_ylabel("sample quantile")
        ax_qq.legend(fontsize=7)
        ax_hist.set_xlabel("noise coordinate")
        for ax in (ax_hist, ax_qq):  # few ticks: the labels of small values are wide
            ax.xaxis.set_major_locator(MaxNLocator(5))
    fig.tight_layout()
    return fig
