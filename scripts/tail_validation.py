import sys

sys.stderr = open(snakemake.log[0], "w")

from sgnoise.atomic import write_csv_atomic  # noqa: E402
from sgnoise.tail.synthetic import validation_tables  # noqa: E402

tables = validation_tables(snakemake.params.validation, snakemake.params.method_options)
for name, table in tables.items():
    write_csv_atomic(table, getattr(snakemake.output, name))
