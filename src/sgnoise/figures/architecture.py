"""α̂ by architecture: fully connected, convolutional, residual and attention networks side by side at
comparable parameter counts, the per-layer α̂ grouped by layer type (the "attention noise is heavier
tailed" question of Zhang et al. 2020)."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from sgnoise.figures.style import family_label, not_learned, set_style, with_learned

LAYER_TYPE_ORDER = ("embedding", "attention", "mlp", "convolution", "normalisation", "other")
MIN_LAYER_SAMPLES = 200  # per-layer estimates from fewer stored entries are not drawn (too noisy)
LAYER_YLIM = (0.0, 4.0)


def comparable_runs(runs: pd.DataFrame, layers: pd.DataFrame) -> pd.DataFrame:
    """One run per model family (sgnoise.figures.style.family_label: "fcn", "alexnet kaiming",
    "resnet bn", "vit", "vit adam", …) among the runs that finished ok and learned, with loss nll:
    the one whose parameter count P is closest (in log) to the geometric mean of the families'
    median P, so that the families are compared at comparable sizes. Columns run, family, n_params."""
    sizes = layers.drop_duplicates("run").set_index("run")["n_params"]
    frame = runs[runs["run"].isin(sizes.index) & (runs["status"] == "ok") & ~not_learned(runs)].copy()
    if "loss" in frame.columns:
        frame = frame[frame["loss"] == "nll"]
    if frame.empty:
        return pd.DataFrame(columns=["run", "family", "n_params"])
    frame["family"] = family_label(frame)
    frame["n_params"] = frame["run"].map(sizes).astype(float)
    target = math.exp(np.mean(np.log(frame.groupby("family")["n_params"].median())))
    frame["distance"] = np.abs(np.log(frame["n_params"] / target))
    chosen = frame.sort_values(["distance", "run"], kind="stable").groupby("family", sort=False).head(1)
    return chosen.sort_values("n_params")[["run", "family", "n_params"]].reset_index(drop=True)


def alpha_by_architecture(alpha: pd.DataFrame, runs: pd.DataFrame, layers: pd.DataFrame, method: str = "mohammadi",
                          learned_margin: float | None = None):
    """Three panels for the runs of :func:`comparable_runs` (one per model family, legend with P):
    (a) the paper's pooled α̂ (all P coordinates) over iterations (log axis of iteration + 1);
    (b) the excess heavy-tail fraction of the per-parameter view over iterations (coordinates whose
    α̂ falls below the Gaussian null's 5 % quantile; 0.05 for Gaussian noise, dotted);
    (c) per-layer α̂ (``per_layer`` view, stored coordinates, last checkpoint) grouped by layer type
    (``layers``: sgnoise.models.layer_type_table), one dot per parameter tensor with at least
    ``MIN_LAYER_SAMPLES`` stored entries, the family's median per type as a bar. Lines have gids
    "pooled:<run>" and "excess:<run>", the dots "layers:<family>:<type>"."""
    set_style()
    runs = with_learned(runs)
    chosen = comparable_runs(runs, layers)
    fig, axes = plt.subplots(1, 3, figsize=(15.5, 4.4), gridspec_kw={"width_ratios": [1, 1, 1.35]})
    if chosen.empty:
        for ax in axes:
            ax.set_axis_off()
        axes[0].text(0.5, 0.5, "no learned nll run with a model to compare", ha="center", va="center",
                     transform=axes[0].transAxes)
        return fig
    families = list(chosen["family"])
    colours = dict(zip(families, sns.color_palette("colorblind", len(families))))
    rows = alpha[alpha["run"].isin(chosen["run"]) & (alpha["method"] == method)]
    label = {r.run: f"{r.family} (P = {r.n_params:,.0f})" for r in chosen.itertuples()}
    for r in chosen.itertuples():
        for ax, view, column in ((axes[0], "pooled", "alpha"), (axes[1], "per_parameter", "excess_fraction")):
            part = rows[(rows["run"] == r.run) & (rows["view"] == view)].sort_values("iteration")
            if part.empty or part[column].isna().all():
                continue
            (line,) = ax.plot(part["iteration"] + 1, part[column], "o-", ms=4, color=colours[r.family], label=label[r.run])
            line.set_gid(f"{'pooled' if view == 'pooled' else 'excess'}:{r.run}")
    axes[0].axhline(2.0, color="0.3", lw=0.8, ls=":")
    axes[0].set_ylabel(f"α̂ ({method}, pooled over all P)")
    axes[0].set_title("(a) the paper's pooled α̂", fontsize=9)
    axes[1].axhline(0.05, color="0.3", lw=0.8, ls=":")
    axes[1].set_ylabel("excess heavy-tail fraction")
    axes[1].set_title("(b) coordinates heavier-tailed than the Gaussian null", fontsize=9)
    for ax in axes[:2]:
        ax.set_xscale("log")
        ax.set_xlabel("iteration + 1")
    ax = axes[2]
    per_layer = rows[rows["view"] == "per_layer"]
    per_layer = per_layer[per_layer["iteration"] == per_layer.groupby("run")["iteration"].transform("max")]
    per_layer = per_layer.merge(layers[["run", "layer", "layer_type"]], on=["run", "layer"], how="left")
    per_layer["layer_type"] = per_layer["layer_type"].fillna("other")
    per_layer = per_layer[(per_layer["n_samples"] >= MIN_LAYER_SAMPLES) & np.isfinite(per_layer["alpha"])]
    types = [t for t in LAYER_TYPE_ORDER if t in set(per_layer["layer_type"])]
    width = 0.8 / max(len(families), 1)
    for index, r in enumerate(chosen.itertuples()):
        mine = per_layer[per_layer["run"] == r.run]
        for position, layer_type in enumerate(types):
            values = mine.loc[mine["layer_type"] == layer_type, "alpha"].to_numpy(dtype=float)
            if not values.size:
                continue
            x = position - 0.4 + width * (index + 0.5)
            jitter = np.linspace(-width / 4, width / 4, values.size) if values.size > 1 else np.zeros(1)
            ax.scatter(x + jitter, values, s=12, color=colours[r.family], alpha=0.8, gid=f"layers:{r.family}:{layer_type}")
            ax.plot([x - width / 2.5, x + width / 2.5], [np.median(values)] * 2, color=colours[r.family], lw=2.5)
    ax.axhline(2.0, color="0.3", lw=0.8, ls=":")
    cut = per_layer["alpha"] > LAYER_YLIM[1]
    if cut.any():  # a near-constant tensor (e.g. a norm's gain) can give α̂ in the hundreds
        ax.set_ylim(*LAYER_YLIM)
        ax.text(0.99, 0.98, f"{int(cut.sum())} tensor(s) with α̂ > {LAYER_YLIM[1]:g} cut off", transform=ax.transAxes,
                ha="right", va="top", fontsize=7)
    ax.set_xticks(range(len(types)), types, fontsize=8)
    ax.set_xlim(-0.5, len(types) - 0.5)
    ax.set_ylabel(f"α̂ ({method}) per parameter tensor")
    ax.set_title(f"(c) per layer, last checkpoint (tensors with ≥ {MIN_LAYER_SAMPLES} stored entries)", fontsize=9)
    handles, labels = axes[0].get_legend_handles_labels()
    for handle, text in zip(*axes[1].get_legend_handles_labels()):
        if text not in labels:
            handles.append(handle)
            labels.append(text)
    handles += [Line2D([], [], color="0.3", lw=2.5), Line2D([], [], color="0.3", lw=0.8, ls=":")]
    labels += ["(c) median per family and type", "α = 2 (Gaussian); (b) 0.05 (Gaussian)"]
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=7, frameon=False, bbox_to_anchor=(0.5, -0.01))
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig
