import sys

sys.stderr = open(snakemake.log[0], "w")

from sgnoise.atomic import write_csv_atomic
from sgnoise.sde import discrete_sweep_cases, simulate_discrete_sweep

settings, common = snakemake.params.settings, snakemake.params.common
cases = discrete_sweep_cases(
    alpha=settings["alpha"],
    eps=settings["eps"],
    dims=settings["dims"],
    step_sizes=settings["step_sizes"],
    noises=settings["noises"],
    radius=settings["radius"],
    curvature=settings["curvature"],
)
table = simulate_discrete_sweep(
    cases,
    n_paths=settings["n_paths"],
    max_time=common["max_time"],
    max_predicted_steps=common["max_predicted_steps"],
    seed=common["seed"],
)
print(table.to_string(), file=sys.stderr)
write_csv_atomic(table, snakemake.output.table)
