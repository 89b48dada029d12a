rule alpha:
    input:
        noise="results/runs/{run}/noise.h5",
        status="results/runs/{run}/status.json",
    output:
        alpha="results/runs/{run}/alpha.csv",
        per_parameter="results/runs/{run}/alpha_per_parameter.csv",
    params:
        alpha=config["alpha"],
    log:
        "logs/alpha/{run}.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/alpha.py"


rule tables:
    input:
        alpha=run_files("alpha.csv"),
        per_parameter=run_files("alpha_per_parameter.csv"),
        metrics=run_files("metrics.csv"),
        status=run_files("status.json"),
    output:
        alpha="results/tables/alpha.csv",
        per_parameter="results/tables/alpha_per_parameter.csv",
        metrics="results/tables/metrics.csv",
        runs="results/tables/runs.csv",
    params:
        runs=RUNS,
    log:
        "logs/tables.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/tables.py"
