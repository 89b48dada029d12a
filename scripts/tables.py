import sys

sys.stderr = open(snakemake.log[0], "w")

from sgnoise.atomic import write_csv_atomic
from sgnoise.tail.phases import phase_change_table
from sgnoise.aggregate import (concat_run_tables, estimator_agreement, excess_heavy_tail, first_and_last_checkpoint, last_checkpoint, learned_flags, report_runs_table,
                            runs_overview, runs_table, with_learned_flags)

runs = runs_table(snakemake.params.runs, snakemake.input.status)
# learned: recomputed from metrics.csv with figures.learned_margin (not status.json's value from training time)
metrics = concat_run_tables(snakemake.input.metrics, runs)
runs = with_learned_flags(runs, learned_flags(metrics, runs, snakemake.params.learned_margin))
write_csv_atomic(runs, snakemake.output.runs)
alpha = concat_run_tables(snakemake.input.alpha, runs)
write_csv_atomic(alpha, snakemake.output.alpha)
write_csv_atomic(excess_heavy_tail(alpha), snakemake.output.excess, float_format="%.4g")
write_csv_atomic(phase_change_table(alpha, snakemake.params.method, min_jump=snakemake.params.phase_min_jump),
                 snakemake.output.phases)
write_csv_atomic(concat_run_tables(snakemake.input.metrics, runs), snakemake.output.metrics)
# the report's landing table: one row per run (status, learned, accuracies, pooled α̂ with interval and K1)
overview = runs_overview(runs, alpha, metrics, snakemake.params.method)
write_csv_atomic(overview, snakemake.output.overview, float_format="%.4g")
write_csv_atomic(report_runs_table(overview), snakemake.output.report_runs)
# per-coordinate α: M rows per checkpoint and run; the study table keeps each run's first and last checkpoint
per_parameter = first_and_last_checkpoint(concat_run_tables(snakemake.input.per_parameter, runs))
write_csv_atomic(per_parameter, snakemake.output.per_parameter, float_format="%.6g")
# pooled α at every measured K1: the study table keeps each run's last checkpoint
alpha_k1 = concat_run_tables(snakemake.input.alpha_k1, runs)
write_csv_atomic(last_checkpoint(alpha_k1), snakemake.output.alpha_k1)
# every estimate of each checkpoint side by side, with the systematic range the α figures draw
k1 = snakemake.params.alpha["k1"]
write_csv_atomic(estimator_agreement(alpha, alpha_k1, snakemake.params.alpha["methods"], k1["fixed"], k1["grid"]),
                 snakemake.output.agreement, float_format="%.6g")
not_learned = runs.loc[runs["learned"].eq(False).fillna(False), "run"].tolist()
print(f"{len(runs)} runs, {len(not_learned)} did not learn (margin {snakemake.params.learned_margin}): "
      + ", ".join(not_learned), file=sys.stderr)
