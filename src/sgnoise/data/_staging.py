"""Archives provided without the network: pre-staged in ``<root>/archives/``, in a ``file://`` mirror's
directory, or left intact in a dataset directory whose manifest is gone; and the help text saying how."""

from __future__ import annotations

import os
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from sgnoise.data._sources import _archive_subdir, _check_name, archive_names, default_checksums, default_urls
from sgnoise.data._verify import DatasetChecksumError, DatasetDownloadError, _md5

PRESTAGED_DIR = "archives"


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


def _reusable_archives(final: Path, name: str, expected: Mapping[str, str]) -> dict[str, Path]:
    """Intact archives left in a dataset directory whose manifest is gone (e.g. a forced rerun)."""
    reusable = {}
    for filename in archive_names(name):
        path = final / _archive_subdir(name) / filename
        if path.is_file() and _md5(path) == expected[filename]:
            reusable[filename] = path
    return reusable
