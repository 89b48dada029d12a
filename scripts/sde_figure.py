import sys

sys.stderr = open(snakemake.log[0], "w")

import pandas as pd

from sgnoise.figures.style import save_figure, set_style
from sgnoise.figures.sde import FIGURE_FUNCTIONS

set_style()
fig = FIGURE_FUNCTIONS[snakemake.params.figure](pd.read_csv(snakemake.input.table))
save_figure(fig, [snakemake.output.pdf, snakemake.output.png])
