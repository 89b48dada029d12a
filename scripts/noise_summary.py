import sys

sys.stderr = open(snakemake.log[0], "w")

from sgnoise.atomic import write_csv_atomic
from sgnoise.noise.summaries import summarise_dump

norms, coordinates, fits = summarise_dump(snakemake.input.noise, seed=snakemake.params.seed,
                                          n_coordinates=snakemake.params.n_coordinates, alpha_method=snakemake.params.method)
write_csv_atomic(norms, snakemake.output.norms)
write_csv_atomic(coordinates, snakemake.output.coordinates)
write_csv_atomic(fits, snakemake.output.fits)
