"""The model registry: build_model turns a run's model spec into a torch module (FCN, AlexNet, VGG, ResNet,
ViT or a user factory, ``custom``); check_model tries a model on a batch before any job runs."""

from __future__ import annotations

import importlib
import math
import os
import sys

import torch
from torch import nn

from sgnoise.models.fcn import FCN
from sgnoise.study.naming import MODELS


def kaiming_initialise(model: nn.Module) -> None:
    """Kaiming-normal weights (fan-in, ReLU gain √2) for every conv and linear layer, zero biases.
    PyTorch's default (uniform, variance 1/(3·fan_in)) loses a factor ≈ √6 of the signal
    at every ReLU layer: through AlexNet's 7 of them on 28 × 28 inputs the logits are nearly constant and
    SGD at the default study's step sizes never leaves chance (training accuracy 0.10)."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    for layer in layers:
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)


def build_model(spec: dict, input_shape, num_classes: int) -> nn.Module:
    """Instantiate the model named in ``spec["model"]`` with its size keys."""
    name = spec["model"]
    if name == "fcn":
        return FCN(math.prod(input_shape), spec["depth"], spec["width"], num_classes)
    if name == "alexnet":
        from sgnoise.models.cnn import alexnet

        model = alexnet(spec["scale"], num_classes, in_channels=input_shape[0], input_size=input_shape[-1])
        if spec.get("init", "default") == "kaiming":
            kaiming_initialise(model)
        elif spec.get("init", "default") != "default":
            raise ValueError(f"unknown AlexNet init {spec['init']!r}; expected default or kaiming")
        return model
    if name == "vgg":
        from sgnoise.models.cnn import vgg

        return vgg(f"vgg{spec['variant']}", num_classes, batch_norm=spec.get("batch_norm", False),
                   in_channels=input_shape[0], width=spec.get("width", 64))
    if name == "resnet":
        from sgnoise.models.resnet import resnet

        return resnet(spec["depth"], num_classes, width=spec.get("width", 16), batch_norm=spec.get("batch_norm", True),
                      in_channels=input_shape[0])
    if name == "vit":
        from sgnoise.models.vit import vit

        return vit(spec["depth"], spec["width"], spec["heads"], spec["patch"], num_classes, in_channels=input_shape[0],
                   input_size=input_shape[-1])
    if name == "custom":
        return build_custom_model(spec, input_shape, num_classes)
    raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}")


# --------------------------------------------------------------------------- user models


class CustomModelError(ValueError):
    """A custom model (config ``model: {kind: custom, factory: ..., kwargs: ...}``) that cannot be used."""


def load_factory(reference: str):
    """The callable named by ``"package.module:function"`` (the working directory is importable too)."""
    module_name, colon, attribute = str(reference).partition(":")
    if not colon or not module_name or not attribute:
        raise CustomModelError(f"custom model factory {reference!r} must be written 'package.module:function'")
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # ImportError, or whatever importing the module raised
        raise CustomModelError(f"custom model factory {reference!r}: cannot import module {module_name!r} "
                               f"({type(error).__name__}: {error}); is it on PYTHONPATH?") from None
    factory = module
    for part in attribute.split("."):
        if not hasattr(factory, part):
            raise CustomModelError(f"custom model factory {reference!r}: module {module_name!r} has no {attribute!r}")
        factory = getattr(factory, part)
    if not callable(factory):
        raise CustomModelError(f"custom model factory {reference!r} is not callable (a {type(factory).__name__})")
    return factory


def build_custom_model(spec: dict, input_shape, num_classes: int) -> nn.Module:
    """``factory(input_shape, num_classes, **kwargs)`` of a custom model spec; it must return an nn.Module
    with trainable parameters."""
    factory = load_factory(spec["factory"])
    try:
        model = factory(tuple(input_shape), num_classes, **(spec.get("kwargs") or {}))
    except Exception as error:
        raise CustomModelError(f"custom model factory {spec['factory']!r} failed for input shape {tuple(input_shape)}, "
                               f"{num_classes} classes, kwargs {spec.get('kwargs') or {}}: "
                               f"{type(error).__name__}: {error}") from None
    if not isinstance(model, nn.Module):
        raise CustomModelError(f"custom model factory {spec['factory']!r} returned a {type(model).__name__}, "
                               "not a torch.nn.Module")
    if not any(p.requires_grad for p in model.parameters()):
        raise CustomModelError(f"custom model factory {spec['factory']!r} returned a model without trainable parameters")
    return model


def check_model(spec: dict, input_shape, num_classes: int) -> None:
    """Build ``spec`` and run two zero images through it in eval mode: raise CustomModelError (a ValueError)
    unless the output has shape (2, num_classes). What the workflow runs for custom models before any job."""
    model = build_model(spec, input_shape, num_classes)
    model.eval()
    try:
        with torch.no_grad():
            output = model(torch.zeros(2, *input_shape))
    except Exception as error:
        raise CustomModelError(f"model {spec.get('factory', spec['model'])!r} fails on a batch of {tuple(input_shape)} "
                               f"inputs: {type(error).__name__}: {error}") from None
    shape = tuple(getattr(output, "shape", ()))
    if shape != (2, num_classes):
        raise CustomModelError(f"model {spec.get('factory', spec['model'])!r} gives outputs of shape {shape} for 2 inputs; "
                               f"expected (2, {num_classes}): one logit per class of the dataset")
