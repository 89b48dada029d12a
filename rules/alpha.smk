# α per checkpoint of each run, by every estimator and view (docs/tail.md) → results/runs/<run>/alpha*.csv
rule alpha:
    input:
        noise="results/runs/{run}/noise.h5",
        status="results/runs/{run}/status.json",
    output:
        alpha="results/runs/{run}/alpha.csv",
        per_parameter="results/runs/{run}/alpha_per_parameter.csv",
        alpha_k1="results/runs/{run}/alpha_k1.csv",
    params:
        alpha=config["alpha"],
    log:
        "logs/alpha/{run}.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/alpha.py"
