# Synthetic checks of the tail-index estimators (sgnoise.tail.synthetic): SαS samples of known α, Gaussian scale
# mixtures, interval coverage. Options: the `alpha.validation` block (schemas/alpha.schema.yaml, docs/tail.md).


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
