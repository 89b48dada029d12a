import sys

sys.stderr = open(snakemake.log[0], "w")

import torch

from sgnoise.training.bundle import train_bundle
from sgnoise.training.state import StateError
from sgnoise.training.single import RunSpec, configure_determinism, load_run_data

device = snakemake.params.device
if device == "auto":
    device = "cuda" if torch.cuda.is_available() else "cpu"
configure_determinism(device, snakemake.params.threads)
specs = [RunSpec.from_dict(spec) for spec in snakemake.params.specs]
out_paths = [dict(noise=noise, metrics=metrics, status=status) for noise, metrics, status in
             zip(snakemake.output.noise, snakemake.output.metrics, snakemake.output.status, strict=True)]
try:
    data = load_run_data(snakemake.input.dataset)
except ValueError as error:
    sys.exit(f"error: {error}")
# read from the config, not params, so that changing the save interval never retrains finished runs
state_interval_s = snakemake.config["train"].get("state_interval_s")
progress_interval_s = snakemake.config["train"].get("progress_interval_s", 10)
try:
    statuses = train_bundle(specs, data, out_paths, device=device, state_root=snakemake.params.state_root,
                            state_interval_s=state_interval_s, matrix_memory_mb=snakemake.config["noise"]["matrix_memory_mb"],
                            progress_interval_s=progress_interval_s,
                            log=lambda message: print(message, file=sys.stderr, flush=True))
except (StateError, FloatingPointError) as error:
    sys.exit(f"error: {error}")
for spec, status in zip(specs, statuses):
    print(f"{spec.run_id}: {status}", file=sys.stderr)
