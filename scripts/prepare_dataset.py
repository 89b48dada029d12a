import sys

sys.stderr = open(snakemake.log[0], "w")

from pathlib import Path

from sgnoise.data import dataset_info, prepare_downloaded, prepare_mnist5k, save_prepared

name = snakemake.wildcards.dataset
info = dataset_info(name)
if name == "mnist5k":
    arrays = prepare_mnist5k(seed=snakemake.params.split_seed, n_test=info.n_test)
else:
    arrays = prepare_downloaded(name, Path(snakemake.output[0]).parent)  # <root>/<name>.npz
save_prepared(arrays, snakemake.output[0])
print(f"prepared {name}: {len(arrays['train_labels'])} train, {len(arrays['test_labels'])} test", file=sys.stderr)
