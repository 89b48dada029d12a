import sys

sys.stderr = open(snakemake.log[0], "w")

import json

from sgnoise.atomic import write_csv_atomic
from sgnoise.views import alpha_tables_from_config

status = json.loads(open(snakemake.input.status).read())
alpha, per_parameter = alpha_tables_from_config(snakemake.input.noise, snakemake.params.alpha)
alpha["run_status"] = status["status"]
write_csv_atomic(per_parameter, snakemake.output.per_parameter)
write_csv_atomic(alpha, snakemake.output.alpha)
print(f"{len(alpha)} α rows, run status {status['status']}", file=sys.stderr)
