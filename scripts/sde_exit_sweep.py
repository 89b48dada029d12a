import sys

sys.stderr = open(snakemake.log[0], "w")

from sgnoise.atomic import write_csv_atomic
from sgnoise.sde import exit_study_cases, simulate_exit_sweep

study, settings, common = snakemake.params.study, snakemake.params.settings, snakemake.params.common
keep_times = "times" in snakemake.output.keys()
result = simulate_exit_sweep(
    exit_study_cases(study, settings),
    n_paths=settings["n_paths"],
    dt=common["dt"],
    max_time=common["max_time"],
    max_predicted_steps=common["max_predicted_steps"],
    seed=common["seed"],
    sweep=study,
    keep_times=keep_times,
)
summary, times = result if keep_times else (result, None)
print(summary.to_string(), file=sys.stderr)
write_csv_atomic(summary, snakemake.output.summary)
if keep_times:
    write_csv_atomic(times, snakemake.output.times)
