"""Verification of an installed dataset: md5s, the ``MANIFEST.json`` that lists every file, and the errors
a download that fails its checks raises."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

from sgnoise import __version__
from sgnoise.atomic import atomic_path
from sgnoise.data._sources import raw_subdir

MANIFEST_NAME = "MANIFEST.json"
MANIFEST_FORMAT = 1


class DatasetDownloadError(RuntimeError):
    """A dataset could not be downloaded and verified; nothing was installed."""


class DatasetOfflineError(DatasetDownloadError):
    """The download source could not be reached (connection refused, DNS failure, timeout)."""


class DatasetChecksumError(DatasetDownloadError):
    """A downloaded or pre-staged file does not have the expected md5."""


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


def _checksum_mismatches(workdir: Path, name: str, expected: Mapping[str, str]) -> list[str]:
    found = []
    for path in sorted(p for p in workdir.rglob("*") if p.is_file()):
        if path.name in expected:
            actual = _md5(path)
            if actual != expected[path.name]:
                found.append(f"{path.name}: expected md5 {expected[path.name]}, got {actual}")
    return found
