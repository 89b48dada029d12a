rule alpha_vs_width:
    input:
        alpha="results/tables/alpha.csv",
        runs="results/tables/runs.csv",
    output:
        pdf="results/figures/alpha_vs_width.pdf",
        png=report("results/figures/alpha_vs_width.png", caption="../report/alpha_vs_width.rst", category="Tail index"),
    params:
        method=config["figures"]["method"],
    log:
        "logs/figures/alpha_vs_width.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/fig_alpha_vs_width.py"


rule alpha_over_iterations:
    input:
        alpha="results/tables/alpha.csv",
        metrics="results/tables/metrics.csv",
        runs="results/tables/runs.csv",
    output:
        pdf="results/figures/alpha_over_iterations.pdf",
        png=report(
            "results/figures/alpha_over_iterations.png",
            caption="../report/alpha_over_iterations.rst",
            category="Tail index",
        ),
    params:
        method=config["figures"]["method"],
    log:
        "logs/figures/alpha_over_iterations.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/fig_alpha_over_iterations.py"
