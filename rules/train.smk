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
    log:
        "logs/train/{run}.log",
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/train.py"
