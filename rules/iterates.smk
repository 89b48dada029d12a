# Heavy-tailed SGD iterates (Gürbüzbalaban, Şimşekli & Zhu, ICML 2021; docs/iterates.md):
# online SGD chains on Gaussian linear regression, one job per dimension d, against the exact tail index;
# FCN weight fluctuations, one job per network. Config: the `iterates:` block (schemas/iterates.schema.yaml).

ITERATES = STUDY.iterates  # checked when the study is built (sgnoise.study.iterates_config)
ITERATE_CASES = {str(case["dim"]): case for case in config["iterates"]["linear"]["cases"]}


rule iterates_linear:
    # stationary iterates of n_chains chains per (b, η), α̂ per coordinate and of the norm; exact theory
    output:
        measured="results/iterates/linear_d{dim}.csv",
        theory="results/iterates/linear_theory_d{dim}.csv",
        curves="results/iterates/linear_curves_d{dim}.csv",
    wildcard_constraints:
        dim="|".join(ITERATE_CASES),
    params:
        case=lambda wildcards: ITERATE_CASES[wildcards.dim],
        settings={key: value for key, value in config["iterates"]["linear"].items() if key != "cases"},
        seed=config["iterates"]["seed"],
        threads=config["iterates"]["threads"],
    threads: config["iterates"]["threads"]
    resources:
        gpu=0 if config["iterates"]["linear"]["device"] == "cpu" else 1,
    log:
        "logs/iterates/linear_d{dim}.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/iterates_linear.py"


rule iterates_network:
    # the step sizes of one batch size train as one batched model; α̂ of the fluctuations per layer
    input:
        dataset=f"{DATA_DIR}/{config['iterates']['networks']['dataset']}.npz",
    output:
        table="results/iterates/network_{network}.csv",
    wildcard_constraints:
        network="|".join(ITERATES["networks"]),
    params:
        model=lambda wildcards: ITERATES["networks"][wildcards.network],
        settings={key: value for key, value in config["iterates"]["networks"].items() if key not in ("models", "dataset")},
        seed=config["iterates"]["seed"],
        threads=config["iterates"]["threads"],
    threads: config["iterates"]["threads"]
    resources:
        gpu=0 if config["iterates"]["networks"]["device"] == "cpu" else 1,
    log:
        "logs/iterates/network_{network}.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/iterates_network.py"
