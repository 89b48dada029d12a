"""Run naming, kept free of torch imports (the workflow builds run ids at parse time)."""

from __future__ import annotations

import hashlib
import json
import re

MODELS = ("fcn", "alexnet", "vgg", "resnet", "vit", "custom")
# The grid keys (config `runs:` entries) that size each built-in model, and their defaults.
MODEL_SIZE_KEYS = {"fcn": ["depth", "width"], "alexnet": ["scale", "init"], "vgg": ["variant", "width", "batch_norm"],
                   "resnet": ["depth", "width", "batch_norm"], "vit": ["depth", "width", "heads", "patch"]}
MODEL_DEFAULTS = {"alexnet": {"init": "default"}, "vgg": {"width": 64, "batch_norm": False},
                  "resnet": {"width": 16, "batch_norm": True}}
OPTIMIZERS = ("sgd", "adam")
ADAM_BETAS = (0.9, 0.999)


def model_tag(spec: dict) -> str:
    """Readable, stable path component for a model spec (part of the run id)."""
    name = spec["model"]
    if name == "fcn":
        return f"fcn-d{spec['depth']}-w{spec['width']}"
    if name == "alexnet":
        return f"alexnet-c{spec['scale']}" + ("-kaiming" if spec.get("init", "default") == "kaiming" else "")
    if name == "vgg":
        return f"vgg{spec['variant']}-w{spec.get('width', 64)}" + ("-bn" if spec.get("batch_norm") else "")
    if name == "resnet":
        return f"resnet{spec['depth']}-w{spec.get('width', 16)}" + ("-bn" if spec.get("batch_norm", True) else "")
    if name == "vit":
        return f"vit-d{spec['depth']}-w{spec['width']}-h{spec['heads']}-p{spec['patch']}"
    if name == "custom":
        return custom_model_tag(spec)
    raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}")


def _path_safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._,+=-]", "_", text)


def custom_model_tag(spec: dict) -> str:
    """``custom-<name>`` (``name``, else the factory's function name), then ``-<key><value>`` per scalar
    factory keyword in key order; keywords with list or mapping values add ``-h`` and 8 hex digits of
    their SHA-1 instead. Characters outside [A-Za-z0-9._,+=-] become "_"."""
    name = spec.get("name") or str(spec["factory"]).rpartition(":")[2]
    parts, nested = [f"custom-{name}"], {}
    for key, value in sorted((spec.get("kwargs") or {}).items()):
        if isinstance(value, (dict, list, tuple)):
            nested[key] = value
        else:
            parts.append(f"{key}{value:g}" if isinstance(value, float) else f"{key}{value}")
    if nested:
        parts.append("h" + hashlib.sha1(json.dumps(nested, sort_keys=True).encode()).hexdigest()[:8])
    return _path_safe("-".join(parts))


def optimizer_tag(optimizer: dict | None) -> str:
    """Run-id suffix of the optimizer: "" for plain SGD, ``-adam<β1>-<β2>`` for Adam."""
    if not optimizer or optimizer.get("name", "sgd") == "sgd":
        return ""
    beta1, beta2 = optimizer.get("betas", ADAM_BETAS)
    return f"-adam{beta1:g}-{beta2:g}"


def model_problem(spec: dict, input_shape) -> str | None:
    """What is wrong with a built-in model spec on inputs of ``input_shape`` (C, H, W), or None; torch-free
    (the workflow checks every run before any job starts)."""
    name = spec["model"]
    if name == "fcn" and spec["depth"] < 2:
        return f"FCN depth must be >= 2 (number of Linear layers), got {spec['depth']}"
    if name == "resnet" and (spec["depth"] < 8 or (spec["depth"] - 2) % 6):
        return f"ResNet depth must be 6n + 2 with n >= 1 (8, 14, 20, 32, 44, 56, 110, ...), got {spec['depth']}"
    if name == "vit":
        if spec["width"] % spec["heads"]:
            return f"ViT heads ({spec['heads']}) must divide the width ({spec['width']})"
        if input_shape[-1] != input_shape[-2] or input_shape[-1] % spec["patch"]:
            return f"ViT patch size {spec['patch']} must divide the (square) image side, got images {tuple(input_shape)}"
    if name == "vgg" and tuple(input_shape[-2:]) != (32, 32):
        return f"VGG expects 32×32 inputs, got images {tuple(input_shape)}"
    return None


# Bundled training (sgnoise.training.bundle): runs that agree in SHARED_FIELDS may be trained together.
VARYING_FIELDS = ("run_id", "seed", "lr", "loss")
SHARED_FIELDS = ("dataset", "model", "batch_size", "iterations", "lr_milestones", "lr_factor", "checkpoints",
                 "max_coords", "noise_seed", "random_minibatches", "on_divergence", "checksum", "pooled_k1_grid",
                 "pooled_zeros", "noise_test_set", "dataset_path", "optimizer")


def bundle_supported(model: dict, optimizer: dict | None = None) -> bool:
    """Whether runs of this model spec and optimizer can be bundled: bias-free ReLU FCNs (no dropout, no
    batch norm) trained with plain SGD."""
    return isinstance(model, dict) and model.get("model") == "fcn" and not optimizer_tag(optimizer)


def bundle_name(run_ids) -> str:
    """12 hex digits naming the bundle of ``run_ids`` (SHA-1 of the ids, in order): the workflow's rule
    ``train_bundle_<name>`` and the bundle's state directory."""
    return hashlib.sha1(" ".join(run_ids).encode()).hexdigest()[:12]


def bundle_key(spec) -> str:
    """Canonical JSON of the fields a bundle shares (a RunSpec or its dict): runs with equal keys may be bundled."""
    values = spec.to_dict() if hasattr(spec, "to_dict") else dict(spec)
    return json.dumps({name: values.get(name) for name in SHARED_FIELDS}, sort_keys=True)
