"""results/tables/hill_plot.csv: α̂ against k on each example run's last checkpoint (sgnoise.aggregate.hill_plot_curves)."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from sgnoise.atomic import write_csv_atomic  # noqa: E402
from sgnoise.aggregate import hill_plot_curves  # noqa: E402

curves = hill_plot_curves(snakemake.input.noise, snakemake.input.status, points=snakemake.params.points,
                          zeros=snakemake.params.zeros)
write_csv_atomic(curves, snakemake.output.table, float_format="%.6g")
