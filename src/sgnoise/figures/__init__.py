"""Figures of the study: one function per figure, each drawing tidy tables (pandas) in the house style.

:data:`FIGURES` maps every figure the workflow draws (results/figures/<name>.pdf|png; its rule in
rules/figures.smk) to its function, all of one signature: ``function(**tables, **options) -> Figure``,
the tables named as the rule's inputs (the functions take their tables by name already, so they are
registered as they are, and a misnamed input fails naming it), the options the rule's params.options.
Modules by what they show: grid (α across the run grid), training (α over training), noise (the noise
itself), architecture, tail (α̂ views, estimator validation), agreement (Hill plot, estimator agreement,
K1), calibration, sde, iterates; style holds the shared style and :func:`save_figure`.
"""

from sgnoise.figures._tables import read_tables
from sgnoise.figures.agreement import alpha_vs_k1, estimator_agreement_figure, hill_plot_figure
from sgnoise.figures.architecture import alpha_by_architecture
from sgnoise.figures.calibration import estimator_calibration_figure
from sgnoise.figures.grid import alpha_vs_batch_size, alpha_vs_depth, alpha_vs_scale, alpha_vs_width
from sgnoise.figures.iterates import iterate_alpha_nn, iterate_alpha_vs_eta_over_b
from sgnoise.figures.noise import coordinate_distribution, noise_norm_histogram
from sgnoise.figures.sde import FIGURE_FUNCTIONS as SDE_FIGURES
from sgnoise.figures.style import label_overlaps, save_figure, set_style
from sgnoise.figures.tail import alpha_views_figure, estimator_validation_figure, per_parameter_alpha_figure
from sgnoise.figures.training import alpha_over_iterations

FIGURES = {
    "alpha_vs_width": alpha_vs_width,
    "alpha_vs_depth": alpha_vs_depth,
    "alpha_vs_batch_size": alpha_vs_batch_size,
    "alpha_vs_scale": alpha_vs_scale,
    "alpha_by_architecture": alpha_by_architecture,
    "alpha_over_iterations": alpha_over_iterations,
    "noise_norm_histogram": noise_norm_histogram,
    "coordinate_distribution": coordinate_distribution,
    "alpha_views": alpha_views_figure,
    "per_parameter_alpha": per_parameter_alpha_figure,
    "estimator_validation": estimator_validation_figure,
    "alpha_vs_k1": alpha_vs_k1,
    "hill_plot": hill_plot_figure,
    "estimator_agreement": estimator_agreement_figure,
    "estimator_calibration": estimator_calibration_figure,
    **SDE_FIGURES,
    "iterate_alpha_vs_eta_over_b": iterate_alpha_vs_eta_over_b,
    "iterate_alpha_nn": iterate_alpha_nn,
}
"""Figure name → its function, ``function(**tables, **options) -> Figure``: every figure of the study."""

__all__ = ["FIGURES", "read_tables", "save_figure", "set_style", "label_overlaps"]
