"""Atomic file output: write to a temporary name in the same directory, rename when complete."""

from __future__ import annotations

import contextlib
import os
import tempfile
from glob import escape as glob_escape
from pathlib import Path
from typing import Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds.

    A reader never sees a half-written file, and a failure leaves nothing behind
    (the temporary file is removed). The temporary name keeps the suffix so that
    libraries choosing a format from it (matplotlib, pandas) still work.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # a temporary of this target left by a killed writer: only the job producing ``path`` writes it
    for stale in path.parent.glob(f".{glob_escape(path.name)}.*.tmp{glob_escape(path.suffix)}"):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions of a new file
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file renamed into place)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_csv_atomic(frame, path: str | os.PathLike, **options) -> None:
    """Write a pandas DataFrame as CSV atomically (index off unless asked)."""
    options.setdefault("index", False)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, **options)
