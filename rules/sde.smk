# Lévy-SDE first-exit simulations (issue 4; docs/science.md §5). Simulation rules cache tidy tables in
# results/sde/, one job per study, each seeded from config["sde"]["seed"], the study and the case;
# one named rule per figure draws them (results/figures/sde_*.pdf|png). Config: schemas/sde.schema.yaml.


rule sde_simulate_exit_vs_eps:
    # mean exit time against ε (quadratic well)
    output:
        summary="results/sde/exit_vs_eps.csv",
    params:
        study="exit_vs_eps",
        settings=config["sde"]["exit_vs_eps"],
        common={key: config["sde"][key] for key in ["seed", "dt", "max_time", "max_predicted_steps"]},
    log:
        "logs/sde/sde_simulate_exit_vs_eps.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/sde_exit_sweep.py"


rule sde_simulate_exit_vs_width:
    # mean exit time against the basin width (periodic well)
    output:
        summary="results/sde/exit_vs_width.csv",
    params:
        study="exit_vs_width",
        settings=config["sde"]["exit_vs_width"],
        common={key: config["sde"][key] for key in ["seed", "dt", "max_time", "max_predicted_steps"]},
    log:
        "logs/sde/sde_simulate_exit_vs_width.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/sde_exit_sweep.py"


rule sde_simulate_exit_vs_depth:
    # mean exit time against the barrier height (periodic well)
    output:
        summary="results/sde/exit_vs_depth.csv",
    params:
        study="exit_vs_depth",
        settings=config["sde"]["exit_vs_depth"],
        common={key: config["sde"][key] for key in ["seed", "dt", "max_time", "max_predicted_steps"]},
    log:
        "logs/sde/sde_simulate_exit_vs_depth.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/sde_exit_sweep.py"


rule sde_simulate_exit_distribution:
    # every path's exit time, for τ / E τ against Exp(1)
    output:
        summary="results/sde/exit_distribution.csv",
        times="results/sde/exit_distribution_times.csv",
    params:
        study="exit_distribution",
        settings=config["sde"]["exit_distribution"],
        common={key: config["sde"][key] for key in ["seed", "dt", "max_time", "max_predicted_steps"]},
    log:
        "logs/sde/sde_simulate_exit_distribution.log",
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
        common={key: config["sde"][key] for key in ["seed", "dt", "max_time", "max_predicted_steps"]},
    log:
        "logs/sde/sde_simulate_discrete_exit.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/sde_discrete_exit.py"
