import sys

sys.stderr = open(snakemake.log[0], "w")

import json
from pathlib import Path

from sgnoise.atomic import write_csv_atomic
from sgnoise.store import NoiseDump, NoiseDumpError
from sgnoise.tables import mark_run_status, unestimated_alpha_table
from sgnoise.views import COLUMNS, K1_COLUMNS, PER_PARAMETER_COLUMNS, alpha_table, alpha_table_options

status = json.loads(Path(snakemake.input.status).read_text())
options = alpha_table_options(snakemake.params.alpha)
try:
    if status["status"] == "ok":
        alpha, per_parameter, alpha_k1 = alpha_table(snakemake.input.noise, return_per_parameter=True, return_k1=True,
                                                     **options)
    else:  # diverged: rows marked and α skipped; the dump is still opened, so a corrupt one is reported
        with NoiseDump(snakemake.input.noise) as dump:
            iterations = dump.iterations
        alpha = unestimated_alpha_table(iterations, options.get("methods", ["mohammadi"]),
                                        options.get("views", ["pooled"]), COLUMNS)
        per_parameter = unestimated_alpha_table([], [], [], PER_PARAMETER_COLUMNS)
        alpha_k1 = unestimated_alpha_table([], [], [], K1_COLUMNS)
except NoiseDumpError as error:
    sys.exit(f"error: {error}")
alpha = mark_run_status(alpha, status)
write_csv_atomic(per_parameter, snakemake.output.per_parameter)
write_csv_atomic(alpha_k1, snakemake.output.alpha_k1)
write_csv_atomic(alpha, snakemake.output.alpha)
note = f" at iteration {status['diverged_at']}: α not estimated" if status["status"] != "ok" else ""
print(f"{len(alpha)} α rows, run status {status['status']}{note}", file=sys.stderr)
