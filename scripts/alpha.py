import sys

sys.stderr = open(snakemake.log[0], "w")

import json  # noqa: E402
from pathlib import Path  # noqa: E402

from sgnoise.atomic import write_csv_atomic  # noqa: E402
from sgnoise.noise import NoiseDumpError  # noqa: E402
from sgnoise.study.config import alpha_table_options  # noqa: E402
from sgnoise.tail import run_alpha_tables  # noqa: E402

status = json.loads(Path(snakemake.input.status).read_text())
try:
    alpha, per_parameter, alpha_k1 = run_alpha_tables(snakemake.input.noise, status, **alpha_table_options(snakemake.params.alpha))
except NoiseDumpError as error:
    sys.exit(f"error: {error}")
write_csv_atomic(per_parameter, snakemake.output.per_parameter)
write_csv_atomic(alpha_k1, snakemake.output.alpha_k1)
write_csv_atomic(alpha, snakemake.output.alpha)  # last: its presence means the run's α tables are complete
note = f" at iteration {status['diverged_at']}: α not estimated" if status["status"] != "ok" else ""
print(f"{len(alpha)} α rows, run status {status['status']}{note}", file=sys.stderr)
