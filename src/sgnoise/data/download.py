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

Normalisation (docs/science.md §4): x = (pixel / 255 − mean_c) / sd_c per channel c.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import shutil
import socket
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from sgnoise import __version__
from sgnoise.atomic import atomic_path

logger = logging.getLogger(__name__)

DATASETS = ("mnist", "cifar10", "cifar100")

#: Per-channel mean and standard deviation of the pixel values scaled to [0, 1] (docs/science.md §4).
DATASET_STATS: dict[str, dict[str, tuple[float, ...]]] = {
    "mnist": {"mean": (0.1307,), "sd": (0.3081,)},
    "cifar10": {"mean": (0.491, 0.482, 0.447), "sd": (0.247, 0.243, 0.262)},
    "cifar100": {"mean": (0.5071, 0.4867, 0.4408), "sd": (0.2675, 0.2565, 0.2761)},
}

NUM_CLASSES = {"mnist": 10, "cifar10": 10, "cifar100": 100}
INPUT_SHAPES = {"mnist": (1, 28, 28), "cifar10": (3, 32, 32), "cifar100": (3, 32, 32)}

MANIFEST_NAME = "MANIFEST.json"
PRESTAGED_DIR = "archives"
MANIFEST_FORMAT = 1

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
_MIRROR_SCHEMES = ("http", "https", "ftp", "file")


class DatasetDownloadError(RuntimeError):
    """A dataset could not be downloaded and verified; nothing was installed."""


class DatasetOfflineError(DatasetDownloadError):
    """The download source could not be reached (connection refused, DNS failure, timeout)."""


class DatasetChecksumError(DatasetDownloadError):
    """A downloaded or pre-staged file does not have the expected md5."""


# --------------------------------------------------------------------------- torchvision classes


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


# --------------------------------------------------------------------------- files and manifests


def _md5(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _file_table(directory: Path) -> dict[str, dict[str, int | str]]:
    files = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        relative = path.relative_to(directory).as_posix()
        if relative != MANIFEST_NAME:
            files[relative] = {"bytes": path.stat().st_size, "md5": _md5(path)}
    return files


def _read_manifest(directory: Path) -> dict | None:
    try:
        manifest = json.loads((directory / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _manifest_is_valid(directory: Path, name: str, expected: Mapping[str, str] | None, check_md5: bool = True) -> bool:
    """True when ``directory`` holds a manifest for ``name`` whose every file is present and intact."""
    manifest = _read_manifest(directory)
    if manifest is None or manifest.get("dataset") != name or manifest.get("format") != MANIFEST_FORMAT:
        return False
    if expected is not None and manifest.get("expected_md5") != dict(expected):
        return False
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return False
    for relative, record in files.items():
        path = directory / relative
        try:
            if path.stat().st_size != record["bytes"]:
                return False
        except (OSError, KeyError, TypeError):
            return False
        if check_md5 and _md5(path) != record.get("md5"):
            return False
    return True


def _write_manifest(directory: Path, name: str, expected: Mapping[str, str], urls: list[str]) -> None:
    import torchvision

    manifest = {
        "format": MANIFEST_FORMAT,
        "dataset": name,
        "raw_dir": raw_subdir(name),
        "source_urls": urls,
        "expected_md5": dict(expected),
        "files": _file_table(directory),
        "sgnoise_version": __version__,
        "torchvision_version": torchvision.__version__,
    }
    with atomic_path(directory / MANIFEST_NAME) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


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


def prestaging_help(name: str, root: str | os.PathLike) -> str:
    """How to provide the files of ``name`` on a machine without internet access."""
    _check_name(name)
    root = Path(root)
    sums = default_checksums(name)
    lines = [
        f"To pre-stage {name} without internet access, fetch these original files on a machine that has it:",
        *(f"    {filename}  (md5 {sums[filename]})" for filename in archive_names(name)),
        f"  from {', '.join(default_urls(name))}",
        "and then either",
        f"  (a) copy them into {root / PRESTAGED_DIR}/ (they are checked against the md5s above and used instead of",
        "      downloading), or",
        "  (b) put them in one directory and pass its URL as the mirror (config 'data.mirror'),",
        "      e.g. file:///shared/datasets/ or http://intranet-host/datasets/.",
    ]
    return "\n".join(lines)


def _checksum_mismatches(workdir: Path, name: str, expected: Mapping[str, str]) -> list[str]:
    found = []
    for path in sorted(p for p in workdir.rglob("*") if p.is_file()):
        if path.name in expected:
            actual = _md5(path)
            if actual != expected[path.name]:
                found.append(f"{path.name}: expected md5 {expected[path.name]}, got {actual}")
    return found


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


def _prestaged_archives(directory: Path, name: str, expected: Mapping[str, str]) -> dict[str, Path]:
    """Archives of ``name`` present in ``directory``, each checked against its expected md5."""
    staged = {}
    for filename in archive_names(name):
        path = directory / filename
        if path.is_file():
            actual = _md5(path)
            if actual != expected[filename]:
                raise DatasetChecksumError(
                    f"Pre-staged file {path} has md5 {actual}, expected {expected[filename]}; "
                    "replace it with the original archive or remove it."
                )
            staged[filename] = path
    return staged


def _local_mirror_archives(mirror: str, name: str, expected: Mapping[str, str], root: Path) -> dict[str, Path]:
    """A file:// mirror is a local directory: all archives must be there (torchvision cannot fetch file URLs)."""
    directory = Path(urllib.request.url2pathname(urllib.parse.urlparse(mirror).path))
    staged = _prestaged_archives(directory, name, expected)
    missing = [filename for filename in archive_names(name) if filename not in staged]
    if missing:
        raise DatasetDownloadError(
            f"Mirror directory {directory} lacks {', '.join(missing)} for dataset {name!r}.\n"
            + prestaging_help(name, root)
        )
    return staged


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
        if labels.min() < 0 or labels.max() >= NUM_CLASSES[name]:
            raise DatasetDownloadError(f"{name}: labels outside [0, {NUM_CLASSES[name]}) after extraction")


def _reusable_archives(final: Path, name: str, expected: Mapping[str, str]) -> dict[str, Path]:
    """Intact archives left in a dataset directory whose manifest is gone (e.g. a forced rerun)."""
    reusable = {}
    for filename in archive_names(name):
        path = final / _archive_subdir(name) / filename
        if path.is_file() and _md5(path) == expected[filename]:
            reusable[filename] = path
    return reusable


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


# --------------------------------------------------------------------------- load


def normalise_images(pixels: np.ndarray, name: str) -> torch.Tensor:
    """uint8 images (N, C, H, W) -> float32 tensor (pixel / 255 − mean_c) / sd_c (docs/science.md §4)."""
    stats = DATASET_STATS[_check_name(name)]
    if pixels.ndim != 4 or pixels.shape[1] != len(stats["mean"]):
        raise ValueError(f"pixels must have shape (N, {len(stats['mean'])}, H, W), got {pixels.shape}")
    images = torch.as_tensor(np.ascontiguousarray(pixels)).to(torch.float32).div_(255.0)
    mean = torch.tensor(stats["mean"], dtype=torch.float32).view(1, -1, 1, 1)
    sd = torch.tensor(stats["sd"], dtype=torch.float32).view(1, -1, 1, 1)
    return (images - mean) / sd


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


def load_dataset(name: str, root: str | os.PathLike) -> dict:
    """Load a downloaded, verified dataset as normalised tensors.

    Returns ``train_x``/``test_x`` float32 (N, C, H, W) normalised as (pixel/255 − mean)/sd
    with DATASET_STATS, ``train_y``/``test_y`` int64, ``num_classes`` and ``input_shape``
    (C, H, W). Raises FileNotFoundError if ``<root>/<name>`` holds no valid manifest.
    """
    raw = load_raw(name, root)
    result = {"num_classes": NUM_CLASSES[name], "input_shape": INPUT_SHAPES[name]}
    for split in ("train", "test"):
        result[f"{split}_x"] = normalise_images(raw[f"{split}_images"], name)
        result[f"{split}_y"] = torch.as_tensor(raw[f"{split}_labels"], dtype=torch.int64)
    return result
