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
    threads: config["train"]["threads"]
    log:
        "logs/train/{run}.log",
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/train.py"
