# One named rule per figure; each reads tidy tables and calls one function of sgnoise.figures.
# α figures draw runs that did not learn (tables' `learned` column, figures.learned_margin) apart.


rule alpha_vs_width:
    input:
        alpha="results/tables/alpha.csv",
        agreement="results/tables/estimator_agreement.csv",
        runs="results/tables/runs.csv",
    output:
        pdf="results/figures/alpha_vs_width.pdf",
        png=report("results/figures/alpha_vs_width.png", caption="../report/alpha_vs_width.rst", category="Tail index across the grid"),
    params:
        function="training.alpha_vs_width",
        options={"method": config["figures"]["method"], "learned_margin": config["figures"]["learned_margin"]},
    log:
        "logs/figures/alpha_vs_width.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/figure.py"


rule alpha_vs_depth:
    input:
        alpha="results/tables/alpha.csv",
        agreement="results/tables/estimator_agreement.csv",
    output:
        pdf="results/figures/alpha_vs_depth.pdf",
        png=report("results/figures/alpha_vs_depth.png", caption="../report/alpha_vs_depth.rst", category="Tail index across the grid"),
    params:
        function="grid.alpha_vs_depth",
        options={"method": config["figures"]["method"], "learned_margin": config["figures"]["learned_margin"]},
    log:
        "logs/figures/alpha_vs_depth.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/figure.py"


rule alpha_vs_batch_size:
    input:
        alpha="results/tables/alpha.csv",
        agreement="results/tables/estimator_agreement.csv",
    output:
        pdf="results/figures/alpha_vs_batch_size.pdf",
        png=report(
            "results/figures/alpha_vs_batch_size.png",
            caption="../report/alpha_vs_batch_size.rst",
            category="Tail index across the grid",
        ),
    params:
        function="grid.alpha_vs_batch_size",
        options={"method": config["figures"]["method"], "learned_margin": config["figures"]["learned_margin"]},
    log:
        "logs/figures/alpha_vs_batch_size.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/figure.py"


rule alpha_vs_scale:
    input:
        alpha="results/tables/alpha.csv",
        agreement="results/tables/estimator_agreement.csv",
    output:
        pdf="results/figures/alpha_vs_scale.pdf",
        png=report("results/figures/alpha_vs_scale.png", caption="../report/alpha_vs_scale.rst", category="Tail index across the grid"),
    params:
        function="grid.alpha_vs_scale",
        options={"method": config["figures"]["method"], "learned_margin": config["figures"]["learned_margin"]},
    log:
        "logs/figures/alpha_vs_scale.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/figure.py"


rule alpha_over_iterations:
    input:
        alpha="results/tables/alpha.csv",
        metrics="results/tables/metrics.csv",
        runs="results/tables/runs.csv",
        phases="results/tables/phase_changes.csv",
    output:
        pdf="results/figures/alpha_over_iterations.pdf",
        png=report(
            "results/figures/alpha_over_iterations.png",
            caption="../report/alpha_over_iterations.rst",
            category="Tail index over training",
        ),
    params:
        function="training.alpha_over_iterations",
        options={"method": config["figures"]["method"], "learned_margin": config["figures"]["learned_margin"]},
    log:
        "logs/figures/alpha_over_iterations.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/figure.py"


rule noise_norm_histogram:
    input:
        norms=example_run_files("noise_norms.csv"),
    output:
        pdf="results/figures/noise_norm_histogram.pdf",
        png=report(
            "results/figures/noise_norm_histogram.png",
            caption="../report/noise_norm_histogram.rst",
            category="The noise itself",
        ),
    params:
        function="grid.noise_norm_histogram",
        options={},
    log:
        "logs/figures/noise_norm_histogram.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/figure.py"


rule coordinate_distribution:
    input:
        coordinates=example_run_files("coordinates.csv"),
        fits=example_run_files("coordinate_fits.csv"),
    output:
        pdf="results/figures/coordinate_distribution.pdf",
        png=report(
            "results/figures/coordinate_distribution.png",
            caption="../report/coordinate_distribution.rst",
            category="The noise itself",
        ),
    params:
        function="grid.coordinate_distribution",
        options={},
    log:
        "logs/figures/coordinate_distribution.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/figure.py"


rule alpha_vs_k1:
    input:
        alpha_k1="results/tables/alpha_k1.csv",
        runs="results/tables/runs.csv",
    output:
        pdf="results/figures/alpha_vs_k1.pdf",
        png=report("results/figures/alpha_vs_k1.png", caption="../report/alpha_vs_k1.rst", category="Tail index"),
    params:
        function="tail.alpha_vs_k1",
        options={"example_runs": config["figures"]["example_runs"], "learned_margin": config["figures"]["learned_margin"]},
    log:
        "logs/figures/alpha_vs_k1.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/figure.py"


rule estimator_agreement:
    input:
        agreement="results/tables/estimator_agreement.csv",
    output:
        pdf="results/figures/estimator_agreement.pdf",
        png=report("results/figures/estimator_agreement.png", caption="../report/estimator_agreement.rst", category="Tail index"),
    params:
        function="agreement.estimator_agreement_figure",
        options={"learned_margin": config["figures"]["learned_margin"]},
    log:
        "logs/figures/estimator_agreement.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/figure.py"


rule hill_plot:
    input:
        noise=example_run_files("noise.h5"),
        status=example_run_files("status.json"),
        alpha=example_run_files("alpha.csv"),
    output:
        table="results/tables/hill_plot.csv",
        pdf="results/figures/hill_plot.pdf",
        png=report("results/figures/hill_plot.png", caption="../report/hill_plot.rst", category="Tail index"),
    params:
        points=config["figures"]["hill_plot_points"],
        zeros=config["alpha"]["zeros"],
    log:
        "logs/figures/hill_plot.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/fig_tail_hill_plot.py"


rule alpha_by_architecture:
    input:
        alpha="results/tables/alpha.csv",
        runs="results/tables/runs.csv",
    output:
        layers="results/tables/layer_types.csv",
        pdf="results/figures/alpha_by_architecture.pdf",
        png=report("results/figures/alpha_by_architecture.png", caption="../report/alpha_by_architecture.rst",
                   category="Tail index across the grid"),
    params:
        runs=RUNS,
        method=config["figures"]["method"],
        learned_margin=config["figures"]["learned_margin"],
    log:
        "logs/figures/alpha_by_architecture.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/fig_alpha_by_architecture.py"
