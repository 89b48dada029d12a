import sys

sys.stderr = open(snakemake.log[0], "w")

import pandas as pd  # noqa: E402

from sgnoise.atomic import write_csv_atomic  # noqa: E402
from sgnoise.models import layer_type_table  # noqa: E402
from sgnoise.figures.architecture import alpha_by_architecture  # noqa: E402
from sgnoise.figures.style import save_figure  # noqa: E402

# the layer type of every parameter tensor of every run, from its model rebuilt at initialisation
layers = layer_type_table(snakemake.params.runs)
write_csv_atomic(layers, snakemake.output.layers)
fig = alpha_by_architecture(pd.read_csv(snakemake.input.alpha), pd.read_csv(snakemake.input.runs), layers,
                            method=snakemake.params.method, learned_margin=snakemake.params.learned_margin)
save_figure(fig, [snakemake.output.pdf, snakemake.output.png])
