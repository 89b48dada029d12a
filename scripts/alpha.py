import sys

sys.stderr = open(snakemake.log[0], "w")

import json
from pathlib import Path

from sgnoise.atomic import write_csv_atomic
from sgnoise.noise.dump import NoiseDumpError
from sgnoise.tail.views import alpha_table_options, run_alpha_tables

status = json.loads(Path(snakemake.input.status).read_text())
options = alpha_table_options(snakemake.params.alpha)
try:
    alpha, per_parameter, alpha_k1 = run_alpha_tables(snakemake.input.noise, status, **options)
except NoiseDumpError as error:
    sys.exit(f"error: {error}")
write_csv_atomic(per_parameter, snakemake.output.per_parameter)
write_csv_atomic(alpha_k1, snakemake.output.alpha_k1)
write_csv_atomic(alpha, snakemake.output.alpha)
note = f" at iteration {status['diverged_at']}: α not estimated" if status["status"] != "ok" else ""
print(f"{len(alpha)} α rows, run status {status['status']}{note}", file=sys.stderr)
