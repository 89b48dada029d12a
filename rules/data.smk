rule download_dataset:
    output:
        f"{DATA_DIR}/{{dataset}}/MANIFEST.json",
    params:
        name="{dataset}",
        mirror=config["data"]["mirror"],
        retries=config["data"]["retries"],
        checksums=config["data"]["checksums"] or None,
    wildcard_constraints:
        dataset="mnist|cifar10|cifar100",
    localrule: True
    retries: 2
    log:
        "logs/data/download_{dataset}.log",
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/download_dataset.py"


rule prepare_dataset:
    input:
        raw=downloaded_manifest,
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
