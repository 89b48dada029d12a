# Every figure of the study, one rule each, generated from FIGURE_RULES: figure name → its named inputs
# (the tables it draws; the arguments of sgnoise.figures.FIGURES[name]), its options, the inputs that
# list per-run files (per_run: read with a `run` column) and its report entry (category; caption
# report/<caption, else the name>.rst; report_pdf: the PDF is an entry too). Each rule runs
# scripts/figure.py: FIGURES[name](**tables, **options) → results/figures/<name>.pdf|png, log
# logs/figures/<name>.log. α figures draw runs that did not learn (tables' `learned` column,
# figures.learned_margin) apart. Two tables only figures read are made here too (hill_plot_table, layer_types).
# The iterates inputs are functions: ITERATE_CASES and ITERATES come from rules/iterates.smk, included later.

ALPHA_OPTIONS = {"method": config["figures"]["method"], "learned_margin": config["figures"]["learned_margin"]}
ALPHA = "results/tables/alpha.csv"
AGREEMENT = "results/tables/estimator_agreement.csv"
RUNS_TABLE = "results/tables/runs.csv"

FIGURE_RULES = {
    "alpha_vs_width": dict(
        input=dict(alpha=ALPHA, agreement=AGREEMENT, runs=RUNS_TABLE), options=ALPHA_OPTIONS,
        category="Tail index across the grid",
    ),
    "alpha_vs_depth": dict(
        input=dict(alpha=ALPHA, agreement=AGREEMENT), options=ALPHA_OPTIONS, category="Tail index across the grid"
    ),
    "alpha_vs_batch_size": dict(
        input=dict(alpha=ALPHA, agreement=AGREEMENT), options=ALPHA_OPTIONS, category="Tail index across the grid"
    ),
    "alpha_vs_scale": dict(
        input=dict(alpha=ALPHA, agreement=AGREEMENT), options=ALPHA_OPTIONS, category="Tail index across the grid"
    ),
    "alpha_over_iterations": dict(
        input=dict(alpha=ALPHA, metrics="results/tables/metrics.csv", runs=RUNS_TABLE,
                   phases="results/tables/phase_changes.csv"),
        options=ALPHA_OPTIONS, category="Tail index over training",
    ),
    "noise_norm_histogram": dict(
        input=dict(norms=example_run_files("noise_norms.csv")), per_run=["norms"], category="The noise itself"
    ),
    "coordinate_distribution": dict(
        input=dict(coordinates=example_run_files("coordinates.csv"), fits=example_run_files("coordinate_fits.csv")),
        per_run=["coordinates", "fits"], category="The noise itself",
    ),
    "alpha_vs_k1": dict(
        input=dict(alpha_k1="results/tables/alpha_k1.csv", runs=RUNS_TABLE),
        options={"example_runs": config["figures"]["example_runs"], "learned_margin": config["figures"]["learned_margin"]},
        category="Tail index",
    ),
    "estimator_agreement": dict(
        input=dict(agreement=AGREEMENT), options={"learned_margin": config["figures"]["learned_margin"]},
        category="Tail index",
    ),
    "hill_plot": dict(
        input=dict(curves="results/tables/hill_plot.csv", alpha=example_run_files("alpha.csv")), per_run=["alpha"],
        category="Tail index",
    ),
    "alpha_by_architecture": dict(
        input=dict(alpha=ALPHA, runs=RUNS_TABLE, layers="results/tables/layer_types.csv"), options=ALPHA_OPTIONS,
        category="Tail index across the grid",
    ),
    "alpha_views": dict(
        input=dict(table=ALPHA), options={"method": config["figures"]["method"]},
        category="Tail index", caption="tail_alpha_views", report_pdf=True,
    ),
    "per_parameter_alpha": dict(
        input=dict(per_parameter="results/tables/alpha_per_parameter.csv", alpha_table=ALPHA),
        options={"method": config["figures"]["method"]},
        category="Tail index", caption="tail_per_parameter_alpha", report_pdf=True,
    ),
    "estimator_validation": dict(
        input=dict(summary="results/tables/estimator_validation_summary.csv", mixture="results/tables/scale_mixture.csv"),
        category="Tail index", caption="tail_estimator_validation", report_pdf=True,
    ),
    "estimator_calibration": dict(
        input=dict(table="results/tables/estimator_calibration.csv"),
        category="Tail index", caption="tail_estimator_calibration", report_pdf=True,
    ),
    "sde_exit_vs_eps": dict(input=dict(summary="results/sde/exit_vs_eps.csv"), category="Lévy SDE first exit"),
    "sde_exit_vs_width": dict(input=dict(summary="results/sde/exit_vs_width.csv"), category="Lévy SDE first exit"),
    "sde_exit_vs_depth": dict(input=dict(summary="results/sde/exit_vs_depth.csv"), category="Lévy SDE first exit"),
    "sde_exit_distribution": dict(
        input=dict(times="results/sde/exit_distribution_times.csv"), category="Lévy SDE first exit"
    ),
    "sde_levy_paths": dict(input=dict(paths="results/sde/levy_paths.csv"), category="Lévy SDE first exit"),
    "sde_discrete_exit": dict(input=dict(table="results/sde/discrete_exit.csv"), category="Lévy SDE first exit"),
    "iterate_alpha_vs_eta_over_b": dict(
        input=dict(
            measured=lambda wildcards: expand("results/iterates/linear_d{dim}.csv", dim=ITERATE_CASES),
            theory=lambda wildcards: expand("results/iterates/linear_theory_d{dim}.csv", dim=ITERATE_CASES),
            curves=lambda wildcards: expand("results/iterates/linear_curves_d{dim}.csv", dim=ITERATE_CASES),
        ),
        options={"methods": config["iterates"]["linear"]["methods"]},
        category="Heavy-tailed iterates",
    ),
    "iterate_alpha_nn": dict(
        input=dict(table=lambda wildcards: expand("results/iterates/network_{network}.csv", network=ITERATES["networks"])),
        options={"method": config["iterates"]["networks"]["methods"][0],
                 "learned_margin": config["figures"]["learned_margin"]},
        category="Heavy-tailed iterates",
    ),
}


for name, figure in FIGURE_RULES.items():
    caption = f"../report/{figure.get('caption', name)}.rst"
    pdf = f"results/figures/{name}.pdf"

    rule:
        name:
            name
        input:
            **figure["input"],
        output:
            pdf=report(pdf, caption=caption, category=figure["category"]) if figure.get("report_pdf") else pdf,
            png=report(f"results/figures/{name}.png", caption=caption, category=figure["category"]),
        params:
            figure=name,
            options=figure.get("options", {}),
            per_run=figure.get("per_run", []),
        log:
            f"logs/figures/{name}.log",
        conda:
            "../envs/analysis.yaml"
        script:
            "../scripts/figure.py"


rule hill_plot_table:
    # α̂ of Hill, moment and Pickands against k on each example run's last checkpoint (runs not ok: no rows)
    input:
        noise=example_run_files("noise.h5"),
        status=example_run_files("status.json"),
    output:
        table="results/tables/hill_plot.csv",
    params:
        points=config["figures"]["hill_plot_points"],
        zeros=config["alpha"]["zeros"],
    log:
        "logs/tables/hill_plot_table.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/hill_plot_table.py"


rule layer_types:
    # the layer type of every parameter tensor of every run, from its model rebuilt at initialisation
    output:
        table="results/tables/layer_types.csv",
    params:
        runs=RUNS,
    log:
        "logs/tables/layer_types.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/layer_types.py"
