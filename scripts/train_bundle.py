import sys

sys.stderr = open(snakemake.log[0], "w")

import torch

from sgnoise.bundle import train_bundle
from sgnoise.train import RunSpec, configure_determinism, load_run_data

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
try:
    statuses = train_bundle(specs, data, out_paths, device=device)
except FloatingPointError as error:
    sys.exit(f"error: {error}")
for spec, status in zip(specs, statuses):
    print(f"{spec.run_id}: {status}", file=sys.stderr)
