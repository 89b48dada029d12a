"""Run naming, kept free of torch imports (the workflow builds run ids at parse time)."""

from __future__ import annotations

MODELS = ("fcn", "alexnet", "vgg")


def model_tag(spec: dict) -> str:
    """Readable, stable path component for a model spec (part of the run id)."""
    name = spec["model"]
    if name == "fcn":
        return f"fcn-d{spec['depth']}-w{spec['width']}"
    if name == "alexnet":
        return f"alexnet-c{spec['scale']}"
    if name == "vgg":
        return f"vgg{spec['variant']}-w{spec.get('width', 64)}" + ("-bn" if spec.get("batch_norm") else "")
    raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}")
