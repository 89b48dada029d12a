import sys

sys.stderr = open(snakemake.log[0], "w")

from sgnoise.atomic import write_csv_atomic
from sgnoise.iterates import run_linear_study

params = snakemake.params
measured, theory, curves = run_linear_study(params.case, params.settings, params.seed, params.threads, log=sys.stderr)
write_csv_atomic(measured, snakemake.output.measured)
write_csv_atomic(theory, snakemake.output.theory)
write_csv_atomic(curves, snakemake.output.curves)
