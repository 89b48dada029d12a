"""Study tables (results/tables/): per-run outputs (alpha.csv, metrics.csv, status.json, …) concatenated with
each run's config columns, the runs table with its ``learned`` flags, and tables that compare estimators."""

from sgnoise.aggregate._estimates import (AGREEMENT_ID_COLUMNS, EXCESS_COLUMNS, K1_POLICY_COLUMNS, estimator_agreement,
                                          excess_heavy_tail)
from sgnoise.aggregate._hill import hill_plot_curves
from sgnoise.aggregate._runs import (LEARNED_COLUMNS, OVERVIEW_COLUMNS, RUN_COLUMNS, concat_run_tables,
                                     first_and_last_checkpoint, last_checkpoint, learned_flags,
                                     report_runs_table, run_of_path, runs_overview, runs_table,
                                     with_learned_flags)
from sgnoise.aggregate._study import study_tables

__all__ = ["AGREEMENT_ID_COLUMNS", "EXCESS_COLUMNS", "K1_POLICY_COLUMNS", "LEARNED_COLUMNS", "OVERVIEW_COLUMNS",
           "RUN_COLUMNS", "concat_run_tables", "estimator_agreement", "excess_heavy_tail", "first_and_last_checkpoint", "hill_plot_curves",
           "last_checkpoint", "learned_flags", "report_runs_table", "run_of_path", "runs_overview",
           "runs_table", "study_tables", "with_learned_flags"]
