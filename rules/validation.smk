# Tail-index estimator validation (synthetic SαS samples, Gaussian scale mixtures) and the three
# tail-index figures. Options: the `alpha:` config block (schemas/alpha.schema.yaml, docs/tail.md).


rule tail_validation:
    output:
        samples="results/tables/estimator_validation.csv",
        summary="results/tables/estimator_validation_summary.csv",
        scale_mixture="results/tables/scale_mixture.csv",
    params:
        validation=config["alpha"]["validation"],
        method_options=config["alpha"]["method_options"],
    log:
        "logs/tables/tail_validation.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/tail_validation.py"


rule alpha_views:
    input:
        table="results/tables/alpha.csv",
    output:
        pdf=report(
            "results/figures/alpha_views.pdf",
            caption="../report/tail_alpha_views.rst",
            category="Tail index",
        ),
        png=report(
            "results/figures/alpha_views.png",
            caption="../report/tail_alpha_views.rst",
            category="Tail index",
        ),
    params:
        method=config["figures"]["method"],
    log:
        "logs/figures/alpha_views.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/fig_tail_alpha_views.py"


rule per_parameter_alpha:
    input:
        table="results/tables/alpha_per_parameter.csv",
        alpha="results/tables/alpha.csv",
    output:
        pdf=report(
            "results/figures/per_parameter_alpha.pdf",
            caption="../report/tail_per_parameter_alpha.rst",
            category="Tail index",
        ),
        png=report(
            "results/figures/per_parameter_alpha.png",
            caption="../report/tail_per_parameter_alpha.rst",
            category="Tail index",
        ),
    params:
        method=config["figures"]["method"],
    log:
        "logs/figures/per_parameter_alpha.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/fig_tail_per_parameter_alpha.py"


rule estimator_validation:
    input:
        summary="results/tables/estimator_validation_summary.csv",
        scale_mixture="results/tables/scale_mixture.csv",
    output:
        pdf=report(
            "results/figures/estimator_validation.pdf",
            caption="../report/tail_estimator_validation.rst",
            category="Tail index",
        ),
        png=report(
            "results/figures/estimator_validation.png",
            caption="../report/tail_estimator_validation.rst",
            category="Tail index",
        ),
    log:
        "logs/figures/estimator_validation.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/fig_tail_estimator_validation.py"


rule estimator_calibration_table:
    output:
        table="results/tables/estimator_calibration.csv",
    params:
        validation=config["alpha"]["validation"],
        method_options=config["alpha"]["method_options"],
    log:
        "logs/tables/estimator_calibration.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/calibration_table.py"


rule estimator_calibration:
    input:
        table="results/tables/estimator_calibration.csv",
    output:
        pdf=report(
            "results/figures/estimator_calibration.pdf",
            caption="../report/tail_estimator_calibration.rst",
            category="Tail index",
        ),
        png=report(
            "results/figures/estimator_calibration.png",
            caption="../report/tail_estimator_calibration.rst",
            category="Tail index",
        ),
    log:
        "logs/figures/estimator_calibration.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/fig_tail_estimator_calibration.py"
