"""Datasets: the one registry of built-in datasets, their download and verification (torchvision, atomic,
with manifests), their preparation into one on-disk ``.npz`` format, and loading that as normalised tensors.

Submodules: :mod:`~sgnoise.data.registry` (names, sources, sizes, shapes, classes, normalisation statistics;
a user's ``.npz`` checked), :mod:`~sgnoise.data.download` (MNIST, CIFAR-10, CIFAR-100: fetch, verify,
pre-stage), :mod:`~sgnoise.data.prepare` (the prepared format, docs/data.md). Torch-free at import.
"""

from sgnoise.data.download import (
    DatasetChecksumError,
    DatasetDownloadError,
    DatasetOfflineError,
    download_dataset,
    download_manifest,
    load_raw,
)
from sgnoise.data.prepare import (
    load_prepared,
    prepare_dataset,
    prepare_downloaded,
    prepare_mnist5k,
    save_prepared,
    stratified_split,
)
from sgnoise.data.registry import (
    DATASETS,
    DOWNLOADABLE,
    PREPARED_KEYS,
    DatasetInfo,
    dataset_info,
    npz_dataset_info,
)

__all__ = [
    # registry
    "DatasetInfo",
    "DATASETS",
    "DOWNLOADABLE",
    "PREPARED_KEYS",
    "dataset_info",
    "npz_dataset_info",
    # preparation and loading
    "stratified_split",
    "prepare_mnist5k",
    "prepare_downloaded",
    "prepare_dataset",
    "save_prepared",
    "load_prepared",
    # download
    "download_dataset",
    "download_manifest",
    "load_raw",
    "DatasetDownloadError",
    "DatasetOfflineError",
    "DatasetChecksumError",
]
