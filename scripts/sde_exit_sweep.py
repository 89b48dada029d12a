import sys

sys.stderr = open(snakemake.log[0], "w")

from sgnoise.atomic import write_csv_atomic
from sgnoise.sde import run_exit_study

keep_times = "times" in snakemake.output.keys()
summary, times = run_exit_study(snakemake.params.study, snakemake.params.settings, snakemake.params.common, keep_times)
print(summary.to_string(), file=sys.stderr)
write_csv_atomic(summary, snakemake.output.summary)
if keep_times:
    write_csv_atomic(times, snakemake.output.times)
