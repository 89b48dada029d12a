# Bundled training (train.bundle_size, docs/bundle.md): one job trains the runs of a bundle as one
# vectorised model and writes each run's usual outputs. One rule per bundle, named by a hash of its
# members (a rule's list of outputs cannot depend on a wildcard); BUNDLES is empty for bundle_size 1.
# Resumable like rule train: the bundle's state is kept in results/state/_bundles/<bundle>/ and each
# member's checkpoint files in results/state/<run>/ (docs/faults.md).
for bundle, members in BUNDLES.items():

    rule:
        name:
            f"train_bundle_{bundle}"
        input:
            dataset=bundle_dataset_path(members),
        output:
            noise=bundle_files(members, "noise.h5"),
            metrics=bundle_files(members, "metrics.csv"),
            status=bundle_files(members, "status.json"),
        params:
            specs=bundle_specs(members),
            device=config["train"]["device"],
            threads=config["train"]["threads"],
            state_root="results/state",
        threads: config["train"]["threads"]
        resources:
            gpu=0 if config["train"]["device"] == "cpu" else 1,
            cpus_per_task=config["train"]["threads"],  # SLURM: --cpus-per-task (ignored when run locally)
            mem_mb=16000,
            runtime=lambda wildcards, attempt, members=members: attempt * bundle_runtime_min(members),
        log:
            f"logs/train_bundle/{bundle}.log",
        conda:
            "../envs/torch.yaml"
        script:
            "../scripts/train_bundle.py"
