# Datasets: download the archives of MNIST and CIFAR-10/100 (checksums, manifest) and prepare every dataset as one
# normalised .npz in data.dir (sgnoise.data; docs/data.md). The default study's mnist5k installs with a package.
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
