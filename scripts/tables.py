import sys

sys.stderr = open(snakemake.log[0], "w")

from sgnoise.atomic import write_csv_atomic
from sgnoise.phases import phase_change_table
from sgnoise.tables import concat_run_tables, runs_table

runs = runs_table(snakemake.params.runs, snakemake.input.status)
write_csv_atomic(runs, snakemake.output.runs)
for name in ("alpha", "per_parameter", "metrics"):
    paths = getattr(snakemake.input, name)
    table = concat_run_tables(paths, runs)
    write_csv_atomic(table, getattr(snakemake.output, name))
    if name == "alpha":
        phases = phase_change_table(table, snakemake.params.method, min_jump=snakemake.params.phase_min_jump)
        write_csv_atomic(phases, snakemake.output.phases)
