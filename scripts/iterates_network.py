import sys

sys.stderr = open(snakemake.log[0], "w")

import torch

from sgnoise.atomic import write_csv_atomic
from sgnoise.iterates import network_study
from sgnoise.training import configure_determinism, load_run_data

settings = dict(snakemake.params.settings)
if settings["device"] == "auto":
    settings["device"] = "cuda" if torch.cuda.is_available() else "cpu"
configure_determinism(settings["device"], snakemake.params.threads)
try:
    data = load_run_data(snakemake.input.dataset)
except ValueError as error:
    sys.exit(f"error: {error}")
table = network_study(data, snakemake.params.model, settings, seed=snakemake.params.seed, log=sys.stderr)
write_csv_atomic(table, snakemake.output.table)
