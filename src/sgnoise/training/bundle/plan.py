"""Planning a bundle: which runs may be trained together (check_bundle) and how many fit in memory at once
(member_memory_bytes, choose_bundle_size); the memory constants of bundled training."""

from __future__ import annotations

import dataclasses
import os

import torch

from sgnoise.study.naming import SHARED_FIELDS, VARYING_FIELDS, bundle_supported
from sgnoise.study.spec import RunSpec

EVALUATION_CHUNK = 1000  # as sgnoise.training.outputs.evaluate
CPU_MEMORY_FRACTION = 0.25  # of the memory available, for auto bundles on CPU
CUDA_MEMORY_FRACTION = 0.8  # of the free device memory, for auto bundles on CUDA
MAX_NOISE_CHUNK_BYTES = 256 * 2**20  # per-mini-batch gradients held at once in the noise pass (CPU)


def check_bundle(specs) -> None:
    """Raise TypeError/ValueError unless ``specs`` is a non-empty list of bundleable RunSpecs."""
    if not isinstance(specs, (list, tuple)) or not specs:
        raise ValueError(f"specs must be a non-empty list of RunSpec, got {specs!r}")
    for spec in specs:
        if not isinstance(spec, RunSpec):
            raise TypeError(f"specs must hold RunSpec objects, got {type(spec).__name__}")
    unknown = [f.name for f in dataclasses.fields(RunSpec) if f.name not in SHARED_FIELDS + VARYING_FIELDS]
    if unknown:
        raise ValueError(f"RunSpec field(s) {unknown} are not implemented by bundled training (sgnoise.training.bundle); "
                         "use train.bundle_size: 1")
    first = specs[0]
    if not bundle_supported(first.model, first.optimizer):
        raise ValueError(f"bundled training supports model 'fcn' with plain SGD only, got {first.model!r}, "
                         f"optimizer {first.optimizer!r} "
                         f"(run {first.run_id}); train it alone (train.bundle_size: 1)")
    for spec in specs[1:]:
        for name in SHARED_FIELDS:
            if getattr(spec, name) != getattr(first, name):
                raise ValueError(f"runs {first.run_id} and {spec.run_id} cannot share a bundle: '{name}' differs "
                                 f"({getattr(first, name)!r} vs {getattr(spec, name)!r})")
    ids = [spec.run_id for spec in specs]
    if len(set(ids)) != len(ids):
        raise ValueError(f"specs repeat a run id: {sorted(i for i in set(ids) if ids.count(i) > 1)}")


def fcn_layer_sizes(model: dict, input_dim: int, num_classes: int) -> list[tuple[int, int]]:
    """(out, in) of every Linear layer of FCN(depth, width): input→w, (depth−2)×(w→w), w→classes."""
    sizes = [input_dim] + [model["width"]] * (model["depth"] - 1) + [num_classes]
    return [(b, a) for a, b in zip(sizes[:-1], sizes[1:])]


def member_memory_bytes(spec: RunSpec, input_dim: int, num_classes: int, n_train: int) -> int:
    """Rough float32 memory of one bundle member: weights, gradients and update (3P), the stored
    noise rows (K + R)·M, one mini-batch gradient P, and activations of a training step, a
    mini-batch of the noise pass and an evaluation chunk (the dataset itself is shared)."""
    layers = fcn_layer_sizes(spec.model, input_dim, num_classes)
    n_params = sum(o * i for o, i in layers)
    units = sum(o for o, _ in layers)
    k = n_train // spec.batch_size
    stored = min(n_params, spec.max_coords or n_params)
    floats = (4 * n_params + (k + spec.random_minibatches) * stored
              + spec.batch_size * (input_dim + 4 * units) + spec.batch_size * 4 * units + EVALUATION_CHUNK * 2 * units)
    return 4 * floats


def available_memory_bytes(device) -> int:
    """Free memory on ``device``: CUDA free memory (torch.cuda.mem_get_info), else MemAvailable of /proc/meminfo."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def choose_bundle_size(spec: RunSpec, input_dim: int, num_classes: int, n_train: int, device="cpu",
                       free_bytes: int | None = None, limit: int | None = None) -> int:
    """Members that fit at once: ⌊fraction · free / member_memory_bytes⌋, at least 1, at most ``limit``.

    The fraction is 0.8 of the free CUDA memory, 0.25 of the available RAM on CPU (where
    bundling pays through fewer, larger kernels rather than through filling the device).
    """
    if free_bytes is None:
        free_bytes = available_memory_bytes(device)
    if free_bytes < 0:
        raise ValueError(f"free_bytes must be >= 0, got {free_bytes}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1 or None, got {limit}")
    fraction = CUDA_MEMORY_FRACTION if torch.device(device).type == "cuda" else CPU_MEMORY_FRACTION
    size = max(1, int(fraction * free_bytes // member_memory_bytes(spec, input_dim, num_classes, n_train)))
    return min(size, limit) if limit is not None else size
