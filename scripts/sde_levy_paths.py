import sys

sys.stderr = open(snakemake.log[0], "w")

from sgnoise.atomic import write_csv_atomic
from sgnoise.sde import levy_paths_table

settings = snakemake.params.settings
table = levy_paths_table(
    settings["alphas"],
    n_paths=settings["n_paths"],
    n_steps=settings["n_steps"],
    horizon=settings["horizon"],
    seed=snakemake.params.seed,
)
write_csv_atomic(table, snakemake.output.table)
