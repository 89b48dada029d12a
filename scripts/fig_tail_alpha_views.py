import sys

sys.stderr = open(snakemake.log[0], "w")

import pandas as pd  # noqa: E402

from sgnoise.figures.style import save_figure  # noqa: E402
from sgnoise.figures.tail import alpha_views_figure  # noqa: E402

table = pd.read_csv(snakemake.input.table)
save_figure(alpha_views_figure(table, method=snakemake.params.method), [snakemake.output.pdf, snakemake.output.png])
