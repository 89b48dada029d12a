"""All study tables of rule ``tables`` from the per-run outputs, in one call."""

from __future__ import annotations

from sgnoise.aggregate._estimates import estimator_agreement, excess_heavy_tail
from sgnoise.aggregate._runs import (concat_run_tables, first_and_last_checkpoint, last_checkpoint, learned_flags,
                                     report_runs_table, runs_overview, runs_table, with_learned_flags)
from sgnoise.tail.phases import phase_change_table


def study_tables(runs: dict, inputs: dict, alpha_config: dict, method: str, phase_min_jump: float,
                 learned_margin: float) -> tuple[dict, str]:
    """Output name → (table, float_format or None) for results/tables/, and a one-line summary for the log.

    ``runs``: run id → spec; ``inputs``: lists of per-run files named alpha, per_parameter, metrics, status,
    alpha_k1. A run's ``learned`` flag is recomputed from its metrics.csv with ``learned_margin`` (not
    status.json's value from training time), so that changing the margin never retrains."""
    runs_frame = runs_table(runs, inputs["status"])
    metrics = concat_run_tables(inputs["metrics"], runs_frame)
    runs_frame = with_learned_flags(runs_frame, learned_flags(metrics, runs_frame, learned_margin))
    alpha = concat_run_tables(inputs["alpha"], runs_frame)
    overview = runs_overview(runs_frame, alpha, metrics, method)  # the report's landing table: one row per run
    alpha_k1 = concat_run_tables(inputs["alpha_k1"], runs_frame)
    k1 = alpha_config["k1"]
    tables = {
        "runs": (runs_frame, None),
        "alpha": (alpha, None),
        "excess": (excess_heavy_tail(alpha), "%.4g"),
        "phases": (phase_change_table(alpha, method, min_jump=phase_min_jump), None),
        "metrics": (concat_run_tables(inputs["metrics"], runs_frame), None),
        "overview": (overview, "%.4g"),
        "report_runs": (report_runs_table(overview), None),
        # per-coordinate α: the study table keeps each run's first and last checkpoint
        "per_parameter": (first_and_last_checkpoint(concat_run_tables(inputs["per_parameter"], runs_frame)), "%.6g"),
        "alpha_k1": (last_checkpoint(alpha_k1), None),  # pooled α at every measured K1, last checkpoint
        # every estimate of each checkpoint side by side, with the systematic range the α figures draw
        "agreement": (estimator_agreement(alpha, alpha_k1, alpha_config["methods"], k1["fixed"], k1["grid"]), "%.6g"),
    }
    not_learned = runs_frame.loc[runs_frame["learned"].eq(False).fillna(False), "run"].tolist()
    note = (f"{len(runs_frame)} runs, {len(not_learned)} did not learn (margin {learned_margin}): " + ", ".join(not_learned))
    return tables, note
