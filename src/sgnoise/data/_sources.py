"""Where the downloadable datasets come from: torchvision's dataset classes, their archive names, URLs and md5s,
a mirror in their place, and the checksum override (tests, fake data)."""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

from sgnoise.data.registry import DOWNLOADABLE as DATASETS

_MIRROR_SCHEMES = ("http", "https", "ftp", "file")


def _torchvision_base(name: str):
    from torchvision.datasets import CIFAR10, CIFAR100, MNIST

    return {"mnist": MNIST, "cifar10": CIFAR10, "cifar100": CIFAR100}[name]


def _check_name(name) -> str:
    if not isinstance(name, str) or name not in DATASETS:
        raise ValueError(f"name must be one of {DATASETS}, got {name!r}")
    return name


def archive_names(name: str) -> list[str]:
    """File names of the original archives that are downloaded for dataset ``name``."""
    base = _torchvision_base(_check_name(name))
    if name == "mnist":
        return [filename for filename, _ in base.resources]
    return [base.filename]


def default_checksums(name: str) -> dict[str, str]:
    """torchvision's md5 of every archive (and, for CIFAR, every extracted member) of ``name``."""
    base = _torchvision_base(_check_name(name))
    if name == "mnist":
        return {filename: md5 for filename, md5 in base.resources}
    sums = {base.filename: base.tgz_md5}
    sums.update({member: md5 for member, md5 in base.train_list + base.test_list})
    sums[base.meta["filename"]] = base.meta["md5"]
    return sums


def default_urls(name: str) -> list[str]:
    """The URLs torchvision downloads ``name`` from when no mirror is given."""
    base = _torchvision_base(_check_name(name))
    if name == "mnist":
        return [f"{mirror}{filename}" for filename in archive_names(name) for mirror in base.mirrors]
    return [base.url]


def raw_subdir(name: str) -> str:
    """Directory, relative to ``<root>/<name>``, that holds the extracted raw files."""
    base = _torchvision_base(_check_name(name))
    return "MNIST/raw" if name == "mnist" else base.base_folder


def _archive_subdir(name: str) -> str:
    """Directory, relative to torchvision's root, where torchvision stores the archives."""
    return "MNIST/raw" if name == "mnist" else "."


def _check_mirror(mirror) -> str | None:
    if mirror is None:
        return None
    if not isinstance(mirror, str) or not mirror:
        raise TypeError(f"mirror must be a base URL string or None, got {mirror!r}")
    scheme = urllib.parse.urlparse(mirror).scheme
    if scheme not in _MIRROR_SCHEMES:
        raise ValueError(
            f"mirror must be a URL with scheme {_MIRROR_SCHEMES} (e.g. 'https://host/data/'), got {mirror!r}"
        )
    return mirror if mirror.endswith("/") else mirror + "/"


def _expected_checksums(name: str, checksums) -> dict[str, str]:
    expected = default_checksums(name)
    if checksums is None:
        return expected
    if not isinstance(checksums, Mapping):
        raise TypeError(f"checksums must be a mapping file name -> md5 or None, got {type(checksums).__name__}")
    for filename, md5 in checksums.items():
        if filename not in expected:
            raise ValueError(
                f"checksums: unknown file {filename!r} for dataset {name!r}; expected keys among {sorted(expected)}"
            )
        if not isinstance(md5, str) or len(md5) != 32 or any(c not in "0123456789abcdef" for c in md5.lower()):
            raise ValueError(f"checksums[{filename!r}] must be a 32-character hex md5, got {md5!r}")
        expected[filename] = md5.lower()
    return expected


def read_checksums(name: str, source) -> dict[str, str] | None:
    """Checksum override for ``name`` from None, a mapping or a JSON file path.

    The mapping (or file) is either ``{file name: md5}`` for this dataset or
    ``{dataset name: {file name: md5}}`` covering several (as written by tests/fakedata.py).
    """
    _check_name(name)
    if source is None:
        return None
    if isinstance(source, (str, os.PathLike)):
        source = json.loads(Path(source).read_text())
    if not isinstance(source, Mapping):
        raise TypeError(f"checksums must be None, a mapping or a JSON file path, got {type(source).__name__}")
    if any(key in DATASETS for key in source):
        return dict(source[name]) if name in source else None
    return dict(source)


def _torchvision_class(name: str, mirror: str | None, expected: Mapping[str, str]):
    """torchvision's dataset class for ``name`` with its URLs and md5s replaced (same class name)."""
    base = _torchvision_base(name)
    if name == "mnist":
        attributes = {
            "resources": [(filename, expected[filename]) for filename, _ in base.resources],
            "mirrors": [mirror] if mirror else list(base.mirrors),
        }
    else:
        attributes = {
            "url": f"{mirror}{base.filename}" if mirror else base.url,
            "tgz_md5": expected[base.filename],
            "train_list": [[member, expected[member]] for member, _ in base.train_list],
            "test_list": [[member, expected[member]] for member, _ in base.test_list],
            "meta": {**base.meta, "md5": expected[base.meta["filename"]]},
        }
    # MNIST's folders are named after the class, so the subclass keeps the base's name.
    return type(base.__name__, (base,), attributes)


def _source_urls(name: str, mirror: str | None) -> list[str]:
    if mirror is None:
        return default_urls(name)
    return [f"{mirror}{filename}" for filename in archive_names(name)]
