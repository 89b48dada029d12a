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


# Bundled training (train.bundle_size, docs/bundle.md): one job trains the runs of a bundle as one
# vectorised model and writes each run's usual outputs. One rule per bundle (a rule's list of outputs
# cannot depend on a wildcard), named after what its members share, e.g. train_bundle_mnist5k_fcn_d2_w16_b50_it300_x4;
# STUDY.bundles is empty for bundle_size 1. Resumable like rule train: the bundle's state is kept in
# results/state/_bundles/<hash of the members>/ and each member's checkpoint files in results/state/<run>/ (docs/faults.md).
for bundle, members in BUNDLES.items():

    rule:
        name:
            f"train_bundle_{bundle}"
        input:
            dataset=STUDY.dataset_path(members[0]),
        output:
            noise=bundle_files(members, "noise.h5"),
            metrics=bundle_files(members, "metrics.csv"),
            status=bundle_files(members, "status.json"),
        params:
            specs=[STUDY.spec(run) for run in members],
            device=config["train"]["device"],
            threads=config["train"]["threads"],
            state_root="results/state",
        threads: config["train"]["threads"]
        resources:
            gpu=0 if config["train"]["device"] == "cpu" else 1,
            cpus_per_task=config["train"]["threads"],  # SLURM: --cpus-per-task (ignored when run locally)
            mem_mb=16000,
            runtime=lambda wildcards, attempt, bundle=bundle: attempt * STUDY.bundle_runtime_min(bundle),
        log:
            f"logs/train_bundle/{bundle}.log",
        conda:
            "../envs/torch.yaml"
        script:
            "../scripts/train_bundle.py"
