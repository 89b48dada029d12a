"""What a run's numerics depend on besides its spec: seeding, torch's thread count and deterministic CUDA
kernels, the device, and the fingerprint that a saved state must match to be resumed (docs/faults.md)."""

from __future__ import annotations

import os
import random
import zipfile
import zlib

import numpy as np
import torch

from sgnoise import __version__
from sgnoise.data import load_prepared
from sgnoise.study.spec import RunSpec
from sgnoise.training.state import fingerprint


def resolve_device(device: str) -> str:
    """The torch device a job trains on: "auto" becomes "cuda" when torch sees a GPU, else "cpu"; any
    other name (``cpu``, ``cuda``, ``cuda:1`` …) is returned unchanged."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def load_run_data(path, device="cpu") -> dict:
    """:func:`sgnoise.data.load_prepared`, with a damaged archive (bad zip CRC-32 checksum or truncated)
    reported as a ValueError naming the file instead of a zipfile traceback."""
    try:
        return load_prepared(path, device=device)
    except (zipfile.BadZipFile, zlib.error) as error:
        raise ValueError(f"prepared dataset {path} is damaged ({error}); delete it and rerun to prepare it again") from None


def configure_determinism(device: str, threads: int) -> None:
    """Fix what the numerics depend on besides the seed: torch's CPU thread count (from the config, never
    from how many jobs run at once) and, on CUDA, deterministic cuBLAS/cuDNN algorithm choices."""
    torch.set_num_threads(int(threads))
    if torch.device(device).type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # must precede the first cuBLAS call
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True, warn_only=True)


def seed_everything(seed: int) -> torch.Generator:
    """Seed python's, numpy's and torch's global generators with ``seed``; returns a new torch.Generator seeded
    with it too (a run's data order)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def run_fingerprint(spec: RunSpec, device: str) -> str:
    """Identity of a run's numerics: its config, the device type, torch's thread count, the library version.

    A saved state is resumed only under the same fingerprint (else bit-identity could not hold)."""
    return numerics_fingerprint(device, spec=spec.to_dict())


def numerics_fingerprint(device, **identity) -> str:
    """Fingerprint of ``identity`` (what is trained) with what else the numerics depend on: the device
    type, torch's thread count, the sgnoise and torch versions."""
    return fingerprint(dict(identity, device=torch.device(device).type, threads=torch.get_num_threads(),
                            sgnoise_version=__version__, torch_version=torch.__version__))
