"""The one dataset registry: every built-in dataset's name, source, sizes, input shape, classes and
per-channel normalisation statistics (docs/science.md §4; docs/data.md), and the check of a user's own
prepared-format ``.npz`` (config ``dataset: {kind: npz, path: ...}``)."""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass

import numpy as np

__all__ = ["DatasetInfo", "DATASETS", "DOWNLOADABLE", "PREPARED_KEYS", "dataset_info", "npz_dataset_info"]


@dataclass(frozen=True)
class DatasetInfo:
    """One dataset: images (C, H, W) in ``num_classes`` classes, ``n_train``/``n_test`` images, normalised as
    x = (pixel / 255 − mean_c) / std_c per channel c; ``source`` "bundled" (in a pip package), "download"
    (torchvision, :mod:`sgnoise.data.download`) or "npz" (a user's file)."""

    name: str
    input_shape: tuple[int, int, int]
    num_classes: int
    n_train: int
    n_test: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str  # "bundled" (in a pip package), "download" or "npz"


DATASETS = {
    "mnist5k": DatasetInfo("mnist5k", (1, 28, 28), 10, 4000, 1000, (0.1307,), (0.3081,), "bundled"),
    "mnist": DatasetInfo("mnist", (1, 28, 28), 10, 60000, 10000, (0.1307,), (0.3081,), "download"),
    "cifar10": DatasetInfo("cifar10", (3, 32, 32), 10, 50000, 10000, (0.491, 0.482, 0.447), (0.247, 0.243, 0.262), "download"),
    "cifar100": DatasetInfo("cifar100", (3, 32, 32), 100, 50000, 10000, (0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761), "download"),
}

#: The datasets fetched by :func:`sgnoise.data.download.download_dataset`, in registry order.
DOWNLOADABLE = tuple(name for name, info in DATASETS.items() if info.source == "download")


def dataset_info(name: str) -> DatasetInfo:
    """The registry entry of a built-in dataset; ValueError naming the known ones for any other name."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}") from None


PREPARED_KEYS = ("train_images", "train_labels", "test_images", "test_labels", "mean", "std")


def _npz_header(archive: zipfile.ZipFile, key: str):
    """(shape, dtype) of array ``key`` of an open .npz without reading its data."""
    with archive.open(f"{key}.npy") as handle:
        version = np.lib.format.read_magic(handle)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = reader(handle)
    return shape, dtype


def npz_dataset_info(path, name: str) -> DatasetInfo:
    """Check a user's prepared-format .npz (config ``dataset: {kind: npz, path: ...}``) and describe it.

    Raises ValueError naming the file and the problem: missing, not an .npz archive, a missing key,
    images that are not uint8 (N, C, H, W), labels that are not integers in [0, num_classes) with one
    per image, train and test images of different shapes, or mean/std without one positive value per
    channel. Reads only the labels, mean, std and array headers (not the images)."""
    from pathlib import Path

    if name in DATASETS:
        raise ValueError(f"npz dataset name {name!r} is the name of a built-in dataset; choose another")
    if not Path(path).is_file():
        raise ValueError(f"npz dataset {path} does not exist (a path relative to the working directory)")
    try:
        with zipfile.ZipFile(path) as archive:
            keys = {entry[:-4] for entry in archive.namelist() if entry.endswith(".npy")}
            missing = [key for key in PREPARED_KEYS if key not in keys]
            if missing:
                raise ValueError(f"npz dataset {path} lacks {missing}; the prepared format has {list(PREPARED_KEYS)} "
                                 "and optionally num_classes (README, Datasets)")
            images = {key: _npz_header(archive, key) for key in ("train_images", "test_images")}
        with np.load(path) as arrays:
            small = {key: arrays[key] for key in ("train_labels", "test_labels", "mean", "std", "num_classes")
                     if key in keys}
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise ValueError(f"npz dataset {path} is not a readable .npz archive ({error})") from None
    for key, (shape, dtype) in images.items():
        if dtype != np.uint8 or len(shape) != 4 or not shape[0]:
            raise ValueError(f"npz dataset {path}: {key} must be a non-empty uint8 array (N, C, H, W), "
                             f"got {dtype} of shape {shape}")
    (n_train, *train_shape), _ = images["train_images"]
    (n_test, *test_shape), _ = images["test_images"]
    if train_shape != test_shape:
        raise ValueError(f"npz dataset {path}: train images are {tuple(train_shape)}, test images {tuple(test_shape)}")
    labels = np.concatenate([small["train_labels"], small["test_labels"]])
    for key, count in (("train_labels", n_train), ("test_labels", n_test)):
        if small[key].shape != (count,) or not np.issubdtype(small[key].dtype, np.integer):
            raise ValueError(f"npz dataset {path}: {key} must be {count} integers (one per image), "
                             f"got {small[key].dtype} of shape {small[key].shape}")
    classes = int(small["num_classes"]) if "num_classes" in small else int(labels.max()) + 1
    if labels.min() < 0 or labels.max() >= classes or classes < 2:
        raise ValueError(f"npz dataset {path}: labels must lie in [0, num_classes = {classes}) with at least 2 "
                         f"classes, got labels in [{labels.min()}, {labels.max()}]")
    for key in ("mean", "std"):
        values = small[key]
        if values.shape != (train_shape[0],) or not np.all(np.isfinite(values)) or (key == "std" and np.any(values <= 0)):
            raise ValueError(f"npz dataset {path}: {key} must hold one finite{' positive' if key == 'std' else ''} "
                             f"value per channel ({train_shape[0]}), got {values!r}")
    return DatasetInfo(name, tuple(train_shape), classes, n_train, n_test, tuple(map(float, small["mean"])),
                       tuple(map(float, small["std"])), "npz")
