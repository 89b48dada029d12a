# Lévy-SDE first-exit simulations (docs/science.md §5): one job per study, caching a tidy table in results/sde/, each
# seeded from sde.seed, the study and the case (schemas/sde.schema.yaml); the figures are drawn by rules/figures.smk.
# The four exit-time studies differ only in their name and outputs: one generated rule each, sde_simulate_<study>.

SDE_COMMON = {key: config["sde"][key] for key in ["seed", "dt", "max_time", "max_predicted_steps"]}
EXIT_STUDY_OUTPUTS = {
    "exit_vs_eps": {},  # mean exit time against ε (quadratic well)
    "exit_vs_width": {},  # against the basin width (periodic well)
    "exit_vs_depth": {},  # against the barrier height (periodic well)
    "exit_distribution": {"times": "results/sde/exit_distribution_times.csv"},  # every path's τ, for τ / E τ vs Exp(1)
}

for study, extra_outputs in EXIT_STUDY_OUTPUTS.items():

    rule:
        name:
            f"sde_simulate_{study}"
        output:
            summary=f"results/sde/{study}.csv",
            **extra_outputs,
        params:
            study=study,
            settings=config["sde"][study],
            common=SDE_COMMON,
        log:
            f"logs/sde/sde_simulate_{study}.log",
        conda:
            "../envs/analysis.yaml"
        script:
            "../scripts/sde_exit_sweep.py"


rule sde_simulate_levy_paths:
    output:
        table="results/sde/levy_paths.csv",
    params:
        settings=config["sde"]["levy_paths"],
        seed=config["sde"]["seed"],
    log:
        "logs/sde/sde_simulate_levy_paths.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/sde_levy_paths.py"


rule sde_simulate_discrete_exit:
    # the SGD-like recursion of Nguyen et al. (2019) against step size and dimension
    output:
        table="results/sde/discrete_exit.csv",
    params:
        settings=config["sde"]["discrete_exit"],
        common=SDE_COMMON,
    log:
        "logs/sde/sde_simulate_discrete_exit.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/sde_discrete_exit.py"
