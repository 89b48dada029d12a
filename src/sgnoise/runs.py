"""Run naming, kept free of torch imports (the workflow builds run ids at parse time)."""

from __future__ import annotations

import hashlib
import json

MODELS = ("fcn", "alexnet", "vgg")


def model_tag(spec: dict) -> str:
    """Readable, stable path component for a model spec (part of the run id)."""
    name = spec["model"]
    if name == "fcn":
        return f"fcn-d{spec['depth']}-w{spec['width']}"
    if name == "alexnet":
        return f"alexnet-c{spec['scale']}" + ("-kaiming" if spec.get("init", "default") == "kaiming" else "")
    if name == "vgg":
        return f"vgg{spec['variant']}-w{spec.get('width', 64)}" + ("-bn" if spec.get("batch_norm") else "")
    raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}")


# Bundled training (sgnoise.bundle): runs that agree in SHARED_FIELDS may be trained together.
VARYING_FIELDS = ("run_id", "seed", "lr", "loss")
SHARED_FIELDS = ("dataset", "model", "batch_size", "iterations", "lr_milestones", "lr_factor", "checkpoints",
                 "max_coords", "noise_seed", "random_minibatches", "on_divergence", "checksum", "pooled_k1_grid",
                 "pooled_zeros", "noise_test_set")


def bundle_supported(model: dict) -> bool:
    """Whether runs of this model spec can be bundled: bias-free ReLU FCNs (no dropout, no batch norm)."""
    return isinstance(model, dict) and model.get("model") == "fcn"


def bundle_name(run_ids) -> str:
    """12 hex digits naming the bundle of ``run_ids`` (SHA-1 of the ids, in order): the workflow's rule
    ``train_bundle_<name>`` and the bundle's state directory."""
    return hashlib.sha1(" ".join(run_ids).encode()).hexdigest()[:12]


def bundle_key(spec) -> str:
    """Canonical JSON of the fields a bundle shares (a RunSpec or its dict): runs with equal keys may be bundled."""
    values = spec.to_dict() if hasattr(spec, "to_dict") else dict(spec)
    return json.dumps({name: values.get(name) for name in SHARED_FIELDS}, sort_keys=True)
