rule prepare_dataset:
    output:
        f"{DATA_DIR}/{{dataset}}.npz",
    params:
        split_seed=config["data"]["split_seed"],
    log:
        "logs/data/prepare_{dataset}.log",
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/prepare_dataset.py"
