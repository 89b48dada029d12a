"""The estimator_calibration figure: interval coverage, Gaussianity-test size and power, and what each
estimator reports for non-stable heavy tails (table of ``sgnoise.tail.synthetic.calibration_study``)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from sgnoise.figures.style import set_style
from sgnoise.figures.tail import METHOD_ORDER
from sgnoise.tail.synthetic import POOLED_METHOD
TEST_LABELS = {"column_omnibus": "column omnibus", "dagostino_per_coordinate": "D'Agostino per coord.",
               "jarque_bera_per_coordinate": "Jarque–Bera per coord.", "dagostino_entries": "D'Agostino, pooled entries"}
COVERAGE_BAND = (0.90, 0.98)
SAMPLE_STYLES = {"iid": "-", "partition": "--"}


CONTROL_YLIM = (0.0, 6.0)


def _methods(frame):
    present = list(dict.fromkeys(frame["method"]))
    return [m for m in METHOD_ORDER if m in present] + [m for m in present if m not in METHOD_ORDER]


def estimator_calibration_figure(table: pd.DataFrame):
    """Four panels: (a) coverage of each method's default interval against the true α, i.i.d. entries
    (solid) and rows of a zero-sum partition (dashed), the 90–98 % band shaded; (b) size of every
    Gaussianity test (horizontal bars) on Gaussian columns with spread scales (dotted: the nominal level); (c) its power
    on SαS columns; (d) mean α̂ ± sd of each method on Student t and Laplace controls, the stable-domain
    answer (min(ν, 2), resp. 2) and the tail index ν marked."""
    missing = {"study", "sample", "method", "truth", "rate", "nominal", "mean_estimate", "sd_estimate"} - set(table.columns)
    if missing:
        raise ValueError(f"calibration table lacks columns {sorted(missing)}")

    set_style()
    fig, axes = plt.subplots(1, 4, figsize=(16.0, 4.2), gridspec_kw=dict(width_ratios=[1.3, 1.1, 0.8, 1.3]))
    coverage = table[table["study"] == "coverage"]
    methods = _methods(coverage) if not coverage.empty else _methods(table[table["study"] == "control"])
    palette = dict(zip(methods, sns.color_palette("colorblind", len(methods))))
    ax = axes[0]
    if not coverage.empty:
        nominal = float(coverage["nominal"].iloc[0])
        ax.axhspan(*COVERAGE_BAND, color="0.9", lw=0, zorder=0)
        ax.axhline(nominal, color="0.3", lw=0.8, ls=":")
        for method in methods:
            for sample, style in SAMPLE_STYLES.items():
                curve = coverage[(coverage["method"] == method) & (coverage["sample"] == sample)].sort_values("truth")
                if not curve.empty:
                    label = method
                    if method == POOLED_METHOD:  # its own matrix shape and replicate count
                        label = (f"pooled, two-way CI\n({int(curve['n_rows'].iloc[0])} × {int(curve['n_columns'].iloc[0])}, "
                                 f"{int(curve['replicates'].iloc[0])} reps)")
                    ax.plot(curve["truth"], curve["rate"], ls=style, marker="o", ms=3, color=palette[method],
                            lw=2.2 if method == POOLED_METHOD else 1.5, label=label if sample == "iid" else None)
        ax.plot([], [], ls="-", color="0.3", label="i.i.d. entries")
        ax.plot([], [], ls="--", color="0.3", label="zero-sum partition rows")
        others = coverage[coverage["method"] != POOLED_METHOD]
        replicates = int(others["replicates"].iloc[0]) if "replicates" in coverage and len(others) else None
        ax.set_title(f"(a) coverage of the {nominal:.0%} interval" + (f" ({replicates} replicates)" if replicates else ""),
                     fontsize=9)
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=7, frameon=False, loc="lower left")
    ax.set_xlabel("true α")
    ax.set_ylabel("coverage")
    for ax, study, title in ((axes[1], "size", "(b) size: Gaussian columns"), (axes[2], "power", "(c) power: SαS columns")):
        part = table[table["study"] == study]
        tests = [t for t in TEST_LABELS if t in set(part["method"])] + sorted(set(part["method"]) - set(TEST_LABELS))
        rates = [float(part.loc[part["method"] == t, "rate"].iloc[0]) for t in tests]
        positions = np.arange(len(tests))[::-1]  # first test on top
        ax.barh(positions, rates, color=sns.color_palette("colorblind", 8)[4], height=0.6)
        for y, rate in zip(positions, rates):
            ax.text(rate, y, f" {rate:.3f}" if rate < 0.995 else " 1", ha="left", va="center", fontsize=7)
        if not part.empty:
            ax.axvline(float(part["nominal"].iloc[0]), color="0.3", lw=0.8, ls=":")
            title += "" if study == "size" else f" (α = {float(part['truth'].iloc[0]):g})"
            ax.set_title(f"{title}, level {float(part['nominal'].iloc[0]):g}", fontsize=9)
        ax.set_yticks(positions, [TEST_LABELS.get(t, t) for t in tests] if study == "size" else [""] * len(tests), fontsize=7)
        ax.set_xlabel("rejection rate")
        ax.set_xlim(0, 1.25)
    ax = axes[3]
    controls = table[table["study"] == "control"]
    samples = list(dict.fromkeys(controls["sample"]))
    width = 0.8 / max(len(methods), 1)
    for index, method in enumerate(methods):
        part = controls[controls["method"] == method].set_index("sample").reindex(samples)
        x = np.arange(len(samples)) - 0.4 + width * (index + 0.5)
        ax.errorbar(x, part["mean_estimate"], yerr=part["sd_estimate"], fmt="o", ms=4, color=palette.get(method), lw=1)
    nu_labelled = False
    for x, sample in enumerate(samples):
        truth = float(controls.loc[controls["sample"] == sample, "truth"].iloc[0])
        ax.plot([x - 0.45, x + 0.45], [truth, truth], color="0.2", lw=1.2, label="stable-domain answer" if x == 0 else None)
        if sample.startswith("t") and float(sample[1:]) != truth:  # ν > 2: the tail index itself, dotted
            ax.plot([x - 0.45, x + 0.45], [float(sample[1:])] * 2, color="0.2", lw=1.0, ls=":",
                    label=None if nu_labelled else "tail index ν")
            nu_labelled = True
    ax.set_xticks(range(len(samples)), ["Laplace" if s == "laplace" else f"t, ν = {s[1:]}" for s in samples], fontsize=7)
    ax.set_ylabel("mean α̂ ± sd")
    spread = controls["mean_estimate"] + controls["sd_estimate"].fillna(0)
    if (spread > CONTROL_YLIM[1]).any():  # Pickands' and the moment estimator's sd reach tens on these controls
        ax.set_ylim(*CONTROL_YLIM)
        ax.text(0.99, 0.02, f"cut at {CONTROL_YLIM[1]:g}", transform=ax.transAxes, ha="right", va="bottom", fontsize=7)
    ax.set_title("(d) non-stable controls: Student t, Laplace", fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    fig.tight_layout()
    return fig
