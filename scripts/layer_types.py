"""results/tables/layer_types.csv: the layer type of every parameter tensor of every run, from its model rebuilt at
initialisation (sgnoise.models.layer_type_table)."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from sgnoise.atomic import write_csv_atomic  # noqa: E402
from sgnoise.models import layer_type_table  # noqa: E402

write_csv_atomic(layer_type_table(snakemake.params.runs), snakemake.output.table)
