import sys

sys.stderr = open(snakemake.log[0], "w")

import pandas as pd  # noqa: E402

from sgnoise.figures.style import save_figure  # noqa: E402
from sgnoise.figures.tail import estimator_validation_figure  # noqa: E402

summary = pd.read_csv(snakemake.input.summary)
scale_mixture = pd.read_csv(snakemake.input.scale_mixture)
save_figure(estimator_validation_figure(summary, scale_mixture), [snakemake.output.pdf, snakemake.output.png])
