import sys

sys.stderr = open(snakemake.log[0], "w")

import torch

from sgnoise.training.state import StateError
from sgnoise.training.single import RunSpec, configure_determinism, load_run_data, train_run

device = snakemake.params.device
if device == "auto":
    device = "cuda" if torch.cuda.is_available() else "cpu"
configure_determinism(device, snakemake.params.threads)
spec = RunSpec.from_dict(snakemake.params.spec)
# read from the config, not params, so that changing the save interval never retrains finished runs
state_interval_s = snakemake.config["train"].get("state_interval_s")
progress_interval_s = snakemake.config["train"].get("progress_interval_s", 10)
try:
    data = load_run_data(snakemake.input.dataset)
except ValueError as error:
    sys.exit(f"error: {error}")
try:
    status = train_run(spec, data, snakemake.output.noise, snakemake.output.metrics, snakemake.output.status,
                       device=device, state_root=snakemake.params.state_root, state_interval_s=state_interval_s,
                       log=lambda message: print(message, file=sys.stderr, flush=True),
                       matrix_memory_mb=snakemake.config["noise"]["matrix_memory_mb"],
                       progress_interval_s=progress_interval_s)
except (StateError, FloatingPointError) as error:
    sys.exit(f"error: {error}")
print(f"{spec.run_id}: {status}", file=sys.stderr)
