import sys

sys.stderr = open(snakemake.log[0], "w")

from sgnoise.data import prepare_dataset

name = snakemake.wildcards.dataset
arrays = prepare_dataset(name, snakemake.output[0], split_seed=snakemake.params.split_seed)
print(f"prepared {name}: {len(arrays['train_labels'])} train, {len(arrays['test_labels'])} test", file=sys.stderr)
