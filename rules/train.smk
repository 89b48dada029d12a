# One job per run. The resumable training state lives in results/state/<run>/ (not an output, so
# Snakemake never deletes it when a killed job's outputs are flagged incomplete); a rerun of the same
# command resumes from it, and it is deleted once the outputs are written. See docs/faults.md.
rule train:
    input:
        dataset=run_dataset_path,
    output:
        noise="results/runs/{run}/noise.h5",
        metrics="results/runs/{run}/metrics.csv",
        status="results/runs/{run}/status.json",
    params:
        spec=run_spec,
        device=config["train"]["device"],
        threads=config["train"]["threads"],
        state_root="results/state",
    threads: config["train"]["threads"]
    wildcard_constraints:
        run=alone_run_pattern(),
    resources:
        # one GPU per training job unless the study runs on the CPU (`--resources gpu=N` caps a GPU box)
        gpu=0 if config["train"]["device"] == "cpu" else 1,
        mem_mb=8000,
    log:
        "logs/train/{run}.log",
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/train.py"
