import sys

sys.stderr = open(snakemake.log[0], "w")

from sgnoise.atomic import write_csv_atomic
from sgnoise.iterates import network_inputs, network_study

try:
    data, settings = network_inputs(snakemake.input.dataset, snakemake.params.settings, snakemake.params.threads)
except ValueError as error:
    sys.exit(f"error: {error}")
table = network_study(data, snakemake.params.model, settings, seed=snakemake.params.seed, log=sys.stderr)
write_csv_atomic(table, snakemake.output.table)
