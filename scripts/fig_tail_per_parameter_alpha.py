import sys

sys.stderr = open(snakemake.log[0], "w")

import pandas as pd  # noqa: E402

from sgnoise.figures.style import save_figure  # noqa: E402
from sgnoise.figures.tail import per_parameter_alpha_figure  # noqa: E402

table = pd.read_csv(snakemake.input.table)
alpha = pd.read_csv(snakemake.input.alpha)
save_figure(per_parameter_alpha_figure(table, method=snakemake.params.method, alpha_table=alpha),
            [snakemake.output.pdf, snakemake.output.png])
