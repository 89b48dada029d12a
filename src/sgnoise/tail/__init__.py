"""Tail-index (α) estimation: estimators for symmetric α-stable (SαS) samples, their confidence
intervals, Gaussianity tests, and the α tables of a noise dump.

Every estimator is split into *statistics* (what it needs from the sample: block terms, order
statistics, top values, moments) and a *finaliser* (statistics → α). ``estimate_alpha`` computes
the statistics from an array in memory; :mod:`sgnoise.tail.streaming` computes the very same
statistics from a noise dump read in chunks, so both paths give identical numbers; ``alpha_table``
turns a dump into the tidy α table (one row per checkpoint, estimator, view and layer).

Samples are 1-D, flattened in C order, free of exact zeros (``drop_zeros``; no estimator here ever
takes log|0|).

Estimates outside the stable range (0, 2], one convention for every estimator: α̂ is reported as
computed, never clipped (Hill, Pickands and the moment estimator estimate a Pareto-type tail index,
which can exceed 2, e.g. Hill's +8.7 on Gaussian samples; the block estimators can too); every
estimator that estimates 1/α = γ (Mohammadi's 1/α̂, Hill's, Pickands' and the moment estimator's γ̂)
reports γ̂ ≤ 0 (possible on small samples, or on light tails for Pickands and the moment
estimator) as α̂ = +inf (``alpha_from_inverse``), and an undefined γ̂ (ties, an order statistic
equal to 0) as NaN. Interval ends follow the same rule (``inverse_interval``). The one exception is
McCulloch's, whose quantile table spans α ∈ [0.5, 2] only: its α̂ lies there by construction.
Figures clip α̂ to their axis and say so; the tables keep the computed values.

Torch-free at import. Submodules imported on their own:

- :mod:`sgnoise.tail.pooled`: the paper's pooled α over all P coordinates, streamed in the noise
  pass (imports torch; ``from sgnoise.tail import pooled``); α̂ and intervals from its statistics
  alone, torch-free, in :mod:`sgnoise.tail.pooled_alpha`;
- :mod:`sgnoise.tail.streaming`: the streaming statistics engine over a noise matrix;
- :mod:`sgnoise.tail.dump_table`: dump → α tables (its public names are re-exported here);
- :mod:`sgnoise.tail.synthetic`: the estimators on synthetic samples of known α (bias, interval
  coverage, Gaussianity tests' size and power, scale mixtures);
- :mod:`sgnoise.tail.phases`: the "two phases" of α over training.
"""

from sgnoise.tail._columns import alpha_per_column, compact_nonzero, minimum_samples
from sgnoise.tail._estimators import (ESTIMATORS, FINALISERS, STATISTICS, OrderBlocks, block_lengths, block_sums,
                                      estimate_alpha, mcculloch, mcculloch_alpha, mcculloch_alpha_from_ratio,
                                      mcculloch_levels, mcculloch_statistics, median_grid_members, median_member,
                                      mohammadi, mohammadi_alpha, mohammadi_block_terms, mohammadi_order,
                                      mohammadi_order_alpha, mohammadi_order_statistics, mohammadi_statistics,
                                      reference_k1)
from sgnoise.tail._extreme import (PICKANDS_PER_K, TOP_K, hill, hill_alpha, hill_k, hill_statistics, k_grid, moment,
                                   moment_alpha, moment_gamma, moment_k, moment_statistics, pickands, pickands_alpha,
                                   pickands_gamma, pickands_k, pickands_statistics, tail_index_curves, top_count,
                                   top_magnitudes)
from sgnoise.tail._intervals import (TOP_INTERVALS, AlphaEstimate, block_bootstrap_replicates, default_block_size,
                                     estimate_alpha_ci, hill_analytic_interval, interval_from_statistics,
                                     inverse_interval, mcculloch_analytic_interval, mohammadi_analytic_interval,
                                     mohammadi_bootstrap_interval, mohammadi_order_analytic_interval,
                                     moment_analytic_interval, moment_variance, percentile_interval,
                                     pickands_analytic_interval, pickands_variance, resolve_ci_method)
from sgnoise.tail._normality import (COLUMN_TEST_MINIMUM, central_moments, column_moments, column_omnibus,
                                     gaussian_moment_null, normality_from_moments, normality_per_column,
                                     normality_test)
from sgnoise.tail._samples import (CI_METHODS, HILL_EXPONENT, MCCULLOCH_LEVELS, METHODS, NORMALITY_TESTS, TOP_METHODS,
                                   ZERO_POLICIES, alpha_from_inverse, check_method, drop_zeros, kth_smallest,
                                   order_rank, prepare_sample)
from sgnoise.tail.dump_table import (COLUMNS, HILL_PLOT_COLUMNS, K1_COLUMNS, PER_PARAMETER_COLUMNS, VIEWS, alpha_table,
                                     alpha_views, hill_plot_table, run_alpha_tables)

__all__ = [
    # names: estimators, zero policies, interval methods, normality tests
    "METHODS", "TOP_METHODS", "ZERO_POLICIES", "CI_METHODS", "NORMALITY_TESTS", "MCCULLOCH_LEVELS", "HILL_EXPONENT",
    # samples
    "drop_zeros", "prepare_sample", "alpha_from_inverse", "check_method", "order_rank", "kth_smallest",
    # the estimators and their dispatch
    "estimate_alpha", "ESTIMATORS", "STATISTICS", "FINALISERS",
    "mohammadi", "mohammadi_statistics", "mohammadi_alpha", "mohammadi_block_terms", "block_lengths", "block_sums",
    "reference_k1", "median_grid_members", "median_member",
    "mohammadi_order", "mohammadi_order_statistics", "mohammadi_order_alpha", "OrderBlocks",
    "mcculloch", "mcculloch_statistics", "mcculloch_alpha", "mcculloch_alpha_from_ratio", "mcculloch_levels",
    "hill", "hill_k", "hill_statistics", "hill_alpha",
    "pickands", "pickands_k", "pickands_statistics", "pickands_gamma", "pickands_alpha", "PICKANDS_PER_K",
    "moment", "moment_k", "moment_statistics", "moment_gamma", "moment_alpha",
    "top_magnitudes", "top_count", "TOP_K", "k_grid", "tail_index_curves",
    # confidence intervals
    "estimate_alpha_ci", "AlphaEstimate", "interval_from_statistics", "resolve_ci_method", "inverse_interval",
    "percentile_interval", "default_block_size", "block_bootstrap_replicates", "TOP_INTERVALS",
    "mohammadi_analytic_interval", "mohammadi_bootstrap_interval", "mohammadi_order_analytic_interval",
    "hill_analytic_interval", "pickands_analytic_interval", "moment_analytic_interval", "mcculloch_analytic_interval",
    "pickands_variance", "moment_variance",
    # per-coordinate estimates
    "alpha_per_column", "minimum_samples", "compact_nonzero",
    # Gaussianity
    "normality_test", "normality_per_column", "normality_from_moments", "central_moments", "column_moments",
    "column_omnibus", "gaussian_moment_null", "COLUMN_TEST_MINIMUM",
    # α tables of a noise dump
    "alpha_table", "alpha_views", "run_alpha_tables", "hill_plot_table", "VIEWS", "COLUMNS", "PER_PARAMETER_COLUMNS",
    "K1_COLUMNS", "HILL_PLOT_COLUMNS",
]
