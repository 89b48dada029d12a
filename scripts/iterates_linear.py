import sys

sys.stderr = open(snakemake.log[0], "w")

import torch

from sgnoise.atomic import write_csv_atomic
from sgnoise.iterates import linear_study

torch.set_num_threads(snakemake.params.threads)
measured, theory, curves = linear_study(snakemake.params.case, snakemake.params.settings, seed=snakemake.params.seed,
                                        log=sys.stderr)
write_csv_atomic(measured, snakemake.output.measured)
write_csv_atomic(theory, snakemake.output.theory)
write_csv_atomic(curves, snakemake.output.curves)
