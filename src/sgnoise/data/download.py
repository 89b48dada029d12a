"""Download, verify and load MNIST, CIFAR-10 and CIFAR-100 through torchvision, atomically.

The files are fetched by torchvision's own dataset classes (``MNIST``, ``CIFAR10``,
``CIFAR100`` with ``download=True``), so torchvision checks every archive's md5 (and,
for CIFAR, every extracted batch's md5). We only swap the class's source URL (a
mirror) and, for tests, its checksums, and we make the result atomic: everything is
fetched into a hidden temporary directory inside the data directory, verified,
parsed, given a ``MANIFEST.json`` (relative path, size and md5 of every file), and
only then renamed to ``<root>/<name>/``. A dataset directory without a valid
manifest is never read, so a failed, interrupted or corrupt download leaves nothing
a later run mistakes for data.

Layout under ``root`` (default ``resources/data`` in the workflow)::

    <root>/archives/                 optional: pre-staged original archives (read only)
    <root>/mnist/MANIFEST.json
    <root>/mnist/MNIST/raw/          train-images-idx3-ubyte(.gz), ... (torchvision layout)
    <root>/cifar10/MANIFEST.json
    <root>/cifar10/cifar-10-python.tar.gz
    <root>/cifar10/cifar-10-batches-py/   data_batch_1..5, test_batch, batches.meta
    <root>/cifar100/MANIFEST.json
    <root>/cifar100/cifar-100-python.tar.gz
    <root>/cifar100/cifar-100-python/     train, test, meta

Each dataset's sizes, classes and normalisation statistics: :mod:`sgnoise.data.registry`; its preparation
into the on-disk format the runs read: :mod:`sgnoise.data.prepare`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import socket
import tempfile
import time
import urllib.error
from collections.abc import Mapping
from pathlib import Path
from typing import Iterator

import numpy as np

from sgnoise.atomic import atomic_path
from sgnoise.data._sources import (
    _archive_subdir,
    _check_mirror,
    _check_name,
    _expected_checksums,
    _source_urls,
    _torchvision_class,
    archive_names,
    default_checksums,
    default_urls,
    raw_subdir,
    read_checksums,
)
from sgnoise.data._staging import (
    PRESTAGED_DIR,
    _local_mirror_archives,
    _prestaged_archives,
    _reusable_archives,
    prestaging_help,
)
from sgnoise.data._verify import (
    MANIFEST_NAME,
    DatasetChecksumError,
    DatasetDownloadError,
    DatasetOfflineError,
    _checksum_mismatches,
    _manifest_is_valid,
    _read_manifest,
    _write_manifest,
)
from sgnoise.data.registry import DATASETS

__all__ = [
    "download_dataset",
    "download_manifest",
    "load_raw",
    "read_checksums",
    "archive_names",
    "default_checksums",
    "default_urls",
    "raw_subdir",
    "prestaging_help",
    "MANIFEST_NAME",
    "PRESTAGED_DIR",
    "DatasetDownloadError",
    "DatasetOfflineError",
    "DatasetChecksumError",
]

logger = logging.getLogger(__name__)

_OFFLINE_ERRNOS = {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.ETIMEDOUT}
_OFFLINE_MARKERS = (
    "connection refused",
    "name or service not known",
    "temporary failure in name resolution",
    "nodename nor servname",
    "no address associated with hostname",
    "network is unreachable",
    "no route to host",
    "timed out",
)


# --------------------------------------------------------------------------- errors


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _is_offline_error(exc: BaseException) -> bool:
    """True for errors meaning the source host could not be reached at all."""
    for error in _exception_chain(exc):
        reason = error.reason if isinstance(error, urllib.error.URLError) else error
        if isinstance(reason, (socket.gaierror, ConnectionRefusedError, TimeoutError, socket.timeout)):
            return True
        if isinstance(reason, OSError) and reason.errno in _OFFLINE_ERRNOS:
            return True
        # torchvision's MNIST folds the per-mirror errors into the text of one RuntimeError.
        if any(marker in str(error).lower() for marker in _OFFLINE_MARKERS):
            return True
    return False


def _classify_failure(
    exc: Exception, name: str, root: Path, urls: list[str], workdir: Path, expected
) -> DatasetDownloadError:
    tried = "\n".join(f"    {url}" for url in urls)
    detail = f"{type(exc).__name__}: {exc}".strip()
    help_text = prestaging_help(name, root)
    if isinstance(exc, DatasetDownloadError):
        return exc
    if _is_offline_error(exc):
        return DatasetOfflineError(
            f"Cannot download dataset {name!r}: the source is unreachable (offline, DNS failure or a firewall?).\n"
            f"  URLs tried:\n{tried}\n  error: {detail}\n{help_text}"
        )
    mismatches = _checksum_mismatches(workdir, name, expected)
    if mismatches or "corrupted" in str(exc).lower():
        listed = "\n".join(f"    {line}" for line in mismatches) or "    (file missing or unreadable)"
        return DatasetChecksumError(
            f"Dataset {name!r} failed verification; nothing was installed.\n{listed}\n"
            f"  URLs tried:\n{tried}\n  error: {detail}\n{help_text}"
        )
    return DatasetDownloadError(
        f"Cannot download dataset {name!r}.\n  URLs tried:\n{tried}\n  error: {detail}\n{help_text}"
    )


# --------------------------------------------------------------------------- download


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """torchvision's urlopen calls have no timeout; set the process default while downloading."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _fetch_and_verify(name, workdir: Path, mirror, expected, staged: Mapping[str, Path], timeout_s: float) -> None:
    dataset_class = _torchvision_class(name, mirror, expected)
    archive_dir = workdir / _archive_subdir(name)
    archive_dir.mkdir(parents=True, exist_ok=True)
    for filename, path in staged.items():
        shutil.copyfile(path, archive_dir / filename)  # torchvision finds it, checks its md5, skips the download
    with _socket_timeout(timeout_s):
        splits = [dataset_class(root=str(workdir), train=True, download=True)]
    splits.append(dataset_class(root=str(workdir), train=False, download=False))
    for split in splits:  # parsing succeeded; check it is consistent too
        labels = np.asarray(split.targets)
        if len(split.data) != len(labels) or len(labels) == 0:
            raise DatasetDownloadError(f"{name}: {len(split.data)} images but {len(labels)} labels after extraction")
        classes = DATASETS[name].num_classes
        if labels.min() < 0 or labels.max() >= classes:
            raise DatasetDownloadError(f"{name}: labels outside [0, {classes}) after extraction")


def _install(workdir: Path, final: Path, name: str, expected) -> None:
    """Rename the verified ``workdir`` onto ``final``, replacing a stale directory there."""
    if final.exists():
        if _manifest_is_valid(final, name, expected):
            return  # another process installed it meanwhile
        if final.is_dir() and not any(final.iterdir()):
            final.rmdir()  # e.g. created by snakemake for the manifest's directory
        else:
            stale = Path(tempfile.mkdtemp(prefix=f".{name}.stale-", dir=final.parent))
            logger.warning("replacing %s, which holds no valid %s", final, MANIFEST_NAME)
            os.replace(final, stale / "old")
            os.rename(workdir, final)
            shutil.rmtree(stale, ignore_errors=True)
            return
    try:
        os.rename(workdir, final)
    except OSError:
        if not _manifest_is_valid(final, name, expected):
            raise


def download_dataset(
    name: str,
    root: str | os.PathLike,
    mirror: str | None = None,
    retries: int = 3,
    *,
    checksums: Mapping[str, str] | None = None,
    backoff_s: float = 2.0,
    timeout_s: float = 60.0,
) -> Path:
    """Download and verify dataset ``name`` into ``<root>/<name>`` and return its raw-file directory.

    Uses torchvision's ``MNIST``/``CIFAR10``/``CIFAR100`` download (md5-checked) with the
    source replaced by ``mirror`` (a base URL holding the original archive names) when given.
    ``checksums`` overrides torchvision's md5s per file name (tests, fake data). Archives found
    in ``<root>/archives/``, in the directory of a ``file://`` mirror, or left intact in a
    ``<root>/<name>`` whose manifest is gone, are md5-checked and used instead of downloading.
    A failed attempt is retried up to ``retries`` more times (waiting ``backoff_s * attempt`` s;
    each network read times out after ``timeout_s``). Idempotent: a dataset whose manifest
    verifies is not fetched again. Raises DatasetOfflineError, DatasetChecksumError or
    DatasetDownloadError (all RuntimeError) with pre-staging instructions; on failure nothing
    is installed in ``<root>/<name>``.
    """
    _check_name(name)
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a path, got {type(root).__name__}")
    if isinstance(retries, bool) or not isinstance(retries, int):
        raise TypeError(f"retries must be an int, got {type(retries).__name__}")
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    if not backoff_s >= 0 or not timeout_s > 0:
        raise ValueError(f"backoff_s must be >= 0 and timeout_s > 0, got {backoff_s}, {timeout_s}")
    mirror = _check_mirror(mirror)
    expected = _expected_checksums(name, checksums)
    root = Path(root)
    final = root / name
    if _manifest_is_valid(final, name, expected):
        logger.info("%s already downloaded and verified in %s", name, final)
        return final / raw_subdir(name)
    root.mkdir(parents=True, exist_ok=True)
    if mirror is not None and mirror.startswith("file:"):
        staged, mirror = _local_mirror_archives(mirror, name, expected, root), None
    else:
        staged = _reusable_archives(final, name, expected)
        staged.update(_prestaged_archives(root / PRESTAGED_DIR, name, expected))
    if len(staged) == len(archive_names(name)):
        urls = [path.resolve().as_uri() for path in staged.values()]
    else:
        urls = _source_urls(name, mirror)

    error = None
    for attempt in range(retries + 1):
        workdir = Path(tempfile.mkdtemp(prefix=f".{name}.partial-", dir=root))
        try:
            logger.info("%s: attempt %d of %d from %s", name, attempt + 1, retries + 1, ", ".join(urls))
            _fetch_and_verify(name, workdir, mirror, expected, staged, timeout_s)
            _write_manifest(workdir, name, expected, urls)
            _install(workdir, final, name, expected)
            logger.info("%s verified and installed in %s", name, final)
            return final / raw_subdir(name)
        except Exception as exc:  # torchvision raises RuntimeError, URLError, OSError, tarfile/pickle errors, ...
            error = _classify_failure(exc, name, root, urls, workdir, expected)
            if error is not exc:
                error.__cause__ = exc
            logger.warning("%s: attempt %d failed: %s", name, attempt + 1, str(error).splitlines()[0])
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        if isinstance(error, DatasetChecksumError) and staged:
            break  # the pre-staged archives will not change by retrying
        if attempt < retries and backoff_s > 0:
            time.sleep(backoff_s * (attempt + 1))
    raise error


def download_manifest(name: str, manifest, *, mirror=None, retries: int = 3, checksums=None) -> Path:
    """The workflow's ``download_dataset`` rule: :func:`download_dataset` into ``<root>/<name>`` for the
    rule's output ``manifest`` = ``<root>/<name>/MANIFEST.json``, copied there atomically if the rule
    declared a different path. ``checksums``: None, a mapping or a JSON file (:func:`read_checksums`)."""
    root = Path(manifest).parent.parent  # output is <root>/<name>/MANIFEST.json
    raw = download_dataset(name, root, mirror=mirror, retries=retries, checksums=read_checksums(name, checksums))
    # download_dataset writes <root>/<name>/MANIFEST.json inside the directory it renames into place;
    # copy it (atomically) only if the rule declared a different output path.
    installed, output = root / name / MANIFEST_NAME, Path(manifest)
    if output.resolve() != installed.resolve():
        with atomic_path(output) as tmp:
            shutil.copyfile(installed, tmp)
    return raw


def load_raw(name: str, root: str | os.PathLike) -> dict:
    """Read a downloaded, verified dataset as uint8 images (N, C, H, W) and int64 labels.

    Returns ``train_images``, ``train_labels``, ``test_images``, ``test_labels``. Raises
    FileNotFoundError if ``<root>/<name>`` holds no valid manifest.
    """
    _check_name(name)
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a path, got {type(root).__name__}")
    directory = Path(root) / name
    if not _manifest_is_valid(directory, name, expected=None, check_md5=False):
        raise FileNotFoundError(
            f"No verified {name} dataset in {directory} (missing or invalid {MANIFEST_NAME}); "
            f"run sgnoise.data.download.download_dataset({name!r}, {str(root)!r}) or the workflow's download rule first."
        )
    expected = _read_manifest(directory)["expected_md5"]
    dataset_class = _torchvision_class(name, None, expected)
    result = {}
    for split, train in (("train", True), ("test", False)):
        dataset = dataset_class(root=str(directory), train=train, download=False)
        pixels = np.asarray(dataset.data, dtype=np.uint8)
        result[f"{split}_images"] = pixels[:, None] if name == "mnist" else pixels.transpose(0, 3, 1, 2)  # (N, C, H, W)
        result[f"{split}_labels"] = np.asarray(dataset.targets, dtype=np.int64)
    return result
