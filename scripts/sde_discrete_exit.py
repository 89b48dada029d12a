import sys

sys.stderr = open(snakemake.log[0], "w")

from sgnoise.atomic import write_csv_atomic
from sgnoise.sde import run_discrete_study

table = run_discrete_study(snakemake.params.settings, snakemake.params.common)
print(table.to_string(), file=sys.stderr)
write_csv_atomic(table, snakemake.output.table)
