import sys

sys.stderr = open(snakemake.log[0], "w")

from sgnoise.aggregate import study_tables  # noqa: E402
from sgnoise.atomic import write_csv_atomic  # noqa: E402

params = snakemake.params
tables, note = study_tables(params.runs, dict(snakemake.input.items()), params.alpha, params.method, params.phase_min_jump,
                            params.learned_margin)
for name, (table, float_format) in tables.items():
    write_csv_atomic(table, getattr(snakemake.output, name), float_format=float_format)
print(note, file=sys.stderr)
