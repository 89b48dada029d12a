import sys

sys.stderr = open(snakemake.log[0], "w")

from sgnoise.atomic import write_csv_atomic
from sgnoise.tables import concat_run_tables, runs_table

runs = runs_table(snakemake.params.runs, snakemake.input.status)
write_csv_atomic(runs, snakemake.output.runs)
for name in ("alpha", "per_parameter", "metrics"):
    paths = getattr(snakemake.input, name)
    write_csv_atomic(concat_run_tables(paths, runs), getattr(snakemake.output, name))
