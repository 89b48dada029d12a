import sys

sys.stderr = open(snakemake.log[0], "w")

from sgnoise.atomic import write_csv_atomic  # noqa: E402
from sgnoise.tail.synthetic import calibration_table  # noqa: E402

table = calibration_table(snakemake.params.validation, snakemake.params.method_options)
write_csv_atomic(table, snakemake.output.table, float_format="%.6g")
