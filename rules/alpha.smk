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


rule tables:
    input:
        alpha=run_files("alpha.csv"),
        per_parameter=run_files("alpha_per_parameter.csv"),
        metrics=run_files("metrics.csv"),
        status=run_files("status.json"),
        alpha_k1=run_files("alpha_k1.csv"),
    output:
        alpha="results/tables/alpha.csv",
        per_parameter="results/tables/alpha_per_parameter.csv",
        metrics="results/tables/metrics.csv",
        runs="results/tables/runs.csv",
        phases="results/tables/phase_changes.csv",
        alpha_k1="results/tables/alpha_k1.csv",
        overview="results/tables/runs_overview.csv",
        excess="results/tables/excess_heavy_tail.csv",
        agreement="results/tables/estimator_agreement.csv",
        report_runs="results/report/runs.csv",
    params:
        runs=RUNS,
        alpha=config["alpha"],
        method=config["figures"]["method"],
        phase_min_jump=config["figures"]["phase_min_jump"],
        learned_margin=config["figures"]["learned_margin"],
    log:
        "logs/tables.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/tables.py"


rule noise_summary:
    input:
        noise="results/runs/{run}/noise.h5",
    output:
        norms="results/runs/{run}/noise_norms.csv",
        coordinates="results/runs/{run}/coordinates.csv",
        fits="results/runs/{run}/coordinate_fits.csv",
    params:
        seed=config["noise"]["seed"],
        n_coordinates=config["figures"]["n_coordinates"],
        method=config["figures"]["method"],
    log:
        "logs/noise_summary/{run}.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/noise_summary.py"
