"""A user model and a user dataset defined in the test suite, for the custom-model and npz-dataset paths
(config ``model: {kind: custom, factory: "custom_models:tiny_cnn"}``, ``dataset: {kind: npz, path: ...}``)."""

from __future__ import annotations

import numpy as np
from torch import nn

NOT_CALLABLE = 3


def tiny_cnn(input_shape, num_classes, channels: int = 4):
    """Conv 3×3 (C→channels)–BatchNorm–ReLU–Linear(channels·H·W→classes)."""
    c, h, w = input_shape
    return nn.Sequential(nn.Conv2d(c, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU(), nn.Flatten(),
                         nn.Linear(channels * h * w, num_classes))


def wrong_classes(input_shape, num_classes):
    """A model with one logit too many."""
    return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(input_shape)), num_classes + 1))


def no_module(input_shape, num_classes):
    return "not a model"


def write_npz_dataset(path, n_train=200, n_test=40, classes=4, channels=1, side=8, seed=0, **replace):
    """A learnable dataset in the prepared format: class c has a bright c-th row band; ``replace``
    overrides (or, with value None, drops) arrays to make it malformed."""
    rng = np.random.default_rng(seed)

    def images(n):
        labels = rng.integers(0, classes, n)
        pictures = rng.integers(0, 60, (n, channels, side, side))
        for i, label in enumerate(labels):
            pictures[i, :, label * side // classes: (label + 1) * side // classes] += 180
        return pictures.astype(np.uint8), labels.astype(np.int64)

    train_images, train_labels = images(n_train)
    test_images, test_labels = images(n_test)
    arrays = dict(train_images=train_images, train_labels=train_labels, test_images=test_images,
                  test_labels=test_labels, mean=np.full(channels, 0.3), std=np.full(channels, 0.3),
                  num_classes=np.int64(classes))
    for key, value in replace.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    np.savez(path, **arrays)
    return path
