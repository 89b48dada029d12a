"""Every figure: the rule's named inputs as tables (sgnoise.figures.read_tables; those in params.per_run
list per-run files and get a ``run`` column) → sgnoise.figures.FIGURES[params.figure](**tables,
**params.options) → the pdf and png outputs."""

import sys

sys.stderr = open(snakemake.log[0], "w")

from sgnoise.figures import FIGURES, read_tables, save_figure  # noqa: E402

tables = read_tables(snakemake.input, per_run=snakemake.params.per_run)
fig = FIGURES[snakemake.params.figure](**tables, **snakemake.params.options)
save_figure(fig, [snakemake.output.pdf, snakemake.output.png])
