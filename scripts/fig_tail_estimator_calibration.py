import sys

sys.stderr = open(snakemake.log[0], "w")

import pandas as pd  # noqa: E402

from sgnoise.figures.calibration import estimator_calibration_figure  # noqa: E402
from sgnoise.figures.style import save_figure  # noqa: E402

save_figure(estimator_calibration_figure(pd.read_csv(snakemake.input.table)), [snakemake.output.pdf, snakemake.output.png])
