import sys

sys.stderr = open(snakemake.log[0], "w")

import pandas as pd

from sgnoise.plots.common import save_figure
from sgnoise.plots.training import alpha_over_iterations

fig = alpha_over_iterations(pd.read_csv(snakemake.input.alpha), pd.read_csv(snakemake.input.metrics),
                            pd.read_csv(snakemake.input.runs), method=snakemake.params.method)
save_figure(fig, [snakemake.output.pdf, snakemake.output.png])
