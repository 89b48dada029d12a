import sys

sys.stderr = open(snakemake.log[0], "w")

from sgnoise.training import JobError, run_job

outputs = dict(noise=snakemake.output.noise, metrics=snakemake.output.metrics, status=snakemake.output.status)
try:  # state_interval_s and progress_interval_s come from the config, not params: changing them never retrains a run
    statuses = run_job([snakemake.params.spec], snakemake.input.dataset, outputs, device=snakemake.params.device,
                       threads=snakemake.params.threads, state_root=snakemake.params.state_root,
                       train_config=snakemake.config["train"], matrix_memory_mb=snakemake.config["noise"]["matrix_memory_mb"])
except JobError as error:
    sys.exit(f"error: {error}")
for run_id, status in statuses.items():
    print(f"{run_id}: {status}", file=sys.stderr)
