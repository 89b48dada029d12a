"""Resumable training state: one directory per run, every file in it written atomically.

Layout of a state directory (the workflow uses ``results/state/<run>/``, outside Snakemake's
outputs, so Snakemake never deletes it as incomplete output)::

    lock                          flock()ed by the training process; holds its pid
    state.pt                      torch.save of the state dict (format sgnoise.train_state, version 1)
    checkpoint-<iteration:08d>.npz noise, full_gradient, [noise_random], attrs (JSON) of one checkpoint
    noise.h5.partial              the noise dump being written (sgnoise.training.outputs.RunCheckpoints), renamed
                                  onto the run's output at the end; rebuilt from the checkpoint files on resume

The state dict holds everything the SGD loop depends on: model parameters and buffers, the
RNG states of python, numpy, torch (CPU and CUDA) and of the run's own generators, the epoch
permutation, the number of SGD steps done, the metrics rows and the checkpoints already saved.
A ``fingerprint`` (hash of the run's config, device, thread count and library version) tells a
state from another configuration, which is discarded rather than resumed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import random
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from sgnoise.atomic import atomic_path

STATE_FORMAT = "sgnoise.train_state"
STATE_VERSION = 1
STATE_NAME = "state.pt"
LOCK_NAME = "lock"
PARTIAL_DUMP_NAME = "noise.h5.partial"
_CHECKPOINT_FILE = re.compile(r"^checkpoint-(\d{8})\.npz$")


class StateError(RuntimeError):
    """A training state directory that cannot be used (locked by another process, unreadable)."""


def fingerprint(values: dict) -> str:
    """SHA-256 of the canonical JSON of ``values`` (sorted keys): equal configs give equal hashes."""
    text = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def rng_snapshot(generators: dict[str, torch.Generator]) -> dict:
    """States of python's, numpy's and torch's global RNGs (CUDA too when initialised) and of ``generators``.

    Only tensors, lists and plain numbers, so the snapshot loads with ``torch.load(weights_only=True)``."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    snapshot = dict(
        python=[version, list(internal), gauss],
        numpy=[kind, keys.tolist(), int(position), int(has_gauss), float(cached)],
        torch=torch.get_rng_state(),
        cuda=torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else [],
        generators={name: generator.get_state() for name, generator in generators.items()},
    )
    return snapshot


def restore_rng(snapshot: dict, generators: dict[str, torch.Generator]) -> None:
    """Inverse of :func:`rng_snapshot`: set every global RNG and each generator in ``generators``."""
    version, internal, gauss = snapshot["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, position, has_gauss, cached = snapshot["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), position, has_gauss, cached))
    torch.set_rng_state(snapshot["torch"])
    if snapshot["cuda"]:
        torch.cuda.set_rng_state_all(snapshot["cuda"])
    missing = set(generators) - set(snapshot["generators"])
    if missing:
        raise StateError(f"RNG snapshot lacks generator(s) {sorted(missing)}")
    for name, generator in generators.items():
        generator.set_state(snapshot["generators"][name])


def checkpoint_file_name(iteration: int) -> str:
    """File name of the saved checkpoint outputs at ``iteration`` (zero-padded, so names sort by iteration)."""
    return f"checkpoint-{int(iteration):08d}.npz"


def is_atomic_temporary(name: str, target: str) -> bool:
    """Whether ``name`` is a temporary left by :func:`sgnoise.atomic.atomic_path` for ``target``
    (``.<target>.<random>.tmp<suffix>``), e.g. after the writer was killed."""
    suffix = Path(target).suffix
    return name.startswith(f".{target}.") and name.endswith(f".tmp{suffix}")


def remove_stale_temporaries(directory, targets) -> list[Path]:
    """Delete temporaries of ``targets`` left in ``directory`` by killed writers; return what was deleted.

    Only call this while holding the run's lock: a live writer's temporary looks the same."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    removed = []
    for entry in directory.iterdir():
        if any(is_atomic_temporary(entry.name, target) for target in targets):
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


class RunStateDirectory:
    """The resumable state of one training run. Use as a context manager: entering takes the
    run's lock (a second process training the same run gets :class:`StateError` at once) and
    removes temporaries left by a killed predecessor; leaving releases the lock."""

    def __init__(self, path, root=None):
        self.path = Path(path)
        self.root = Path(root) if root is not None else None
        self._lock_handle = None

    # -- locking ---------------------------------------------------------------------------
    def __enter__(self):
        for attempt in range(3):  # a concurrent remove() may prune a shared parent between mkdir steps
            try:
                self.path.mkdir(parents=True, exist_ok=True)
                handle = open(self.path / LOCK_NAME, "a+")
                break
            except FileNotFoundError:
                if attempt == 2:
                    raise
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            raise StateError(
                f"training state {self.path} is locked by another process (pid {owner}) that is still training "
                "this run, e.g. a job left running after snakemake itself was killed; wait for it to end or "
                "kill it, then rerun the same command") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock_handle = handle
        # we hold the lock, so every temporary here was left by a killed predecessor
        for entry in self.path.iterdir():
            if (entry.name.startswith(".") and ".tmp" in entry.name) or entry.name == PARTIAL_DUMP_NAME:
                entry.unlink(missing_ok=True)
        return self

    def __exit__(self, *exc):
        self.release()

    def release(self) -> None:
        if self._lock_handle is not None:
            fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
            self._lock_handle.close()
            self._lock_handle = None

    # -- state -----------------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return self.path / STATE_NAME

    @property
    def partial_dump_path(self) -> Path:
        return self.path / PARTIAL_DUMP_NAME

    def save_state(self, state: dict, fingerprint_value: str) -> None:
        """Atomically replace ``state.pt`` with ``state`` (tensors, lists, dicts and numbers only)."""
        payload = dict(format=STATE_FORMAT, version=STATE_VERSION, fingerprint=fingerprint_value, state=state)
        with atomic_path(self.state_path) as tmp:
            torch.save(payload, tmp)

    def load_state(self, fingerprint_value: str) -> tuple[dict | None, str]:
        """(state, reason): the saved state if there is one for this fingerprint, else (None, why not)."""
        if not self.state_path.exists():
            return None, "no saved state"
        try:
            payload = torch.load(self.state_path, map_location="cpu", weights_only=True)
        except Exception as error:  # an unreadable state is discarded, never trusted
            return None, f"saved state {self.state_path} is unreadable ({type(error).__name__}: {error})"
        if not isinstance(payload, dict) or payload.get("format") != STATE_FORMAT or payload.get("version") != STATE_VERSION:
            return None, f"saved state {self.state_path} has another format or version"
        if payload.get("fingerprint") != fingerprint_value:
            return None, f"saved state {self.state_path} belongs to another configuration, library version or device"
        return payload["state"], "resumed"

    # -- checkpoint files ------------------------------------------------------------------
    def checkpoint_files(self) -> dict[int, Path]:
        """Iteration → path of every checkpoint file present."""
        if not self.path.is_dir():
            return {}
        found = {}
        for entry in self.path.iterdir():
            match = _CHECKPOINT_FILE.match(entry.name)
            if match:
                found[int(match.group(1))] = entry
        return dict(sorted(found.items()))

    def save_checkpoint(self, iteration: int, arrays: dict[str, np.ndarray], attrs: dict) -> None:
        """Atomically write one checkpoint's arrays and (JSON-encodable) attributes."""
        with atomic_path(self.path / checkpoint_file_name(iteration)) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, attrs=np.array(json.dumps(attrs)), **arrays)

    def load_checkpoint(self, iteration: int) -> tuple[dict[str, np.ndarray], dict]:
        path = self.path / checkpoint_file_name(iteration)
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {key: archive[key] for key in archive.files}
        except Exception as error:
            raise StateError(f"checkpoint file {path} is unreadable ({type(error).__name__}: {error}); "
                             f"delete {self.path} to train this run from the start") from None
        attrs = json.loads(str(arrays.pop("attrs")))
        return arrays, attrs

    def keep_checkpoints(self, iterations) -> None:
        """Delete checkpoint files not in ``iterations`` (written after the state being resumed)."""
        keep = set(int(i) for i in iterations)
        for iteration, path in self.checkpoint_files().items():
            if iteration not in keep:
                path.unlink(missing_ok=True)

    def clear(self) -> None:
        """Delete the saved state, every checkpoint file and the partial dump (keep the lock)."""
        for entry in self.path.iterdir():
            if entry.name != LOCK_NAME:
                if entry.is_dir():
                    shutil.rmtree(entry)
                else:
                    entry.unlink(missing_ok=True)

    def remove(self) -> None:
        """Delete the directory (the lock file last, while still held), release the lock, and prune
        parents left empty up to ``root`` included."""
        if self.path.is_dir():
            self.clear()
            (self.path / LOCK_NAME).unlink(missing_ok=True)
        self.release()
        with contextlib.suppress(OSError):
            self.path.rmdir()
        if self.root is None:
            return
        root = self.root.resolve()
        parent = self.path.resolve().parent
        while parent == root or root in parent.parents:
            try:
                parent.rmdir()
            except OSError:  # not empty (another run's state) or already gone
                break
            parent = parent.parent


@contextlib.contextmanager
def temporary_state_directory(parent) -> "RunStateDirectory":
    """A throw-away state directory under ``parent`` (for runs that need not be resumable)."""
    Path(parent).mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=".train-state-", dir=parent))
    try:
        with RunStateDirectory(path) as directory:
            yield directory
    finally:
        shutil.rmtree(path, ignore_errors=True)
