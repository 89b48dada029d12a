import sys

sys.stderr = open(snakemake.log[0], "w")

from sgnoise.atomic import write_csv_atomic
from sgnoise.sde import run_levy_paths

write_csv_atomic(run_levy_paths(snakemake.params.settings, snakemake.params.seed), snakemake.output.table)
