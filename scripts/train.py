import sys

sys.stderr = open(snakemake.log[0], "w")

import torch

from sgnoise.data import load_prepared
from sgnoise.train import RunSpec, train_run

torch.set_num_threads(snakemake.params.threads)
device = snakemake.params.device
if device == "auto":
    device = "cuda" if torch.cuda.is_available() else "cpu"
spec = RunSpec.from_dict(snakemake.params.spec)
data = load_prepared(snakemake.input.dataset)
status = train_run(spec, data, snakemake.output.noise, snakemake.output.metrics, snakemake.output.status, device=device)
print(f"{spec.run_id}: {status}", file=sys.stderr)
