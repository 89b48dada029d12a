"""Model registry. FCN(depth, width): bias-free Linear layers with ReLU (docs/science.md §4); AlexNet and VGG
(sgnoise.models.cnn), CIFAR ResNet (sgnoise.models.resnet), a small ViT (sgnoise.models.vit), and user
models built by a factory function named in the config (``custom``)."""

from __future__ import annotations

import importlib
import math
import os
import sys

import torch
from torch import nn


class FCN(nn.Module):
    """depth Linear layers without bias: input→w, (depth−2)×(w→w), w→classes, ReLU between.

    Parameter count: d_in·w + (depth−2)·w² + w·classes.
    """

    def __init__(self, input_dim: int, depth: int, width: int, num_classes: int):
        super().__init__()
        if depth < 2:
            raise ValueError(f"FCN depth must be >= 2 (number of Linear layers), got {depth}")
        if width < 1:
            raise ValueError(f"FCN width must be >= 1, got {width}")
        sizes = [input_dim] + [width] * (depth - 1) + [num_classes]
        self.layers = nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)


def fcn_num_parameters(input_dim: int, depth: int, width: int, num_classes: int) -> int:
    return input_dim * width + (depth - 2) * width * width + width * num_classes


from sgnoise.study.naming import MODELS, model_tag  # noqa: E402,F401  (torch-free; re-exported)


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


# --------------------------------------------------------------------------- parameter layout


LAYER_TYPES = ("attention", "mlp", "convolution", "normalisation", "embedding", "other")
_EMBEDDING_MODULES = ("PatchEmbedding",)
_ATTENTION_MODULES = ("Attention", "MultiheadAttention")


def _module_type(module: nn.Module) -> str:
    if isinstance(module, nn.modules.conv._ConvNd):
        return "convolution"
    if isinstance(module, (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)):
        return "normalisation"
    if isinstance(module, (nn.Linear, nn.Bilinear)):
        return "mlp"
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        return "embedding"
    return "other"


def parameter_types(model: nn.Module) -> dict[str, str]:
    """Parameter name → layer type, one of LAYER_TYPES, in parameter order: parameters inside an attention
    module (the ViT's ``Attention``, ``nn.MultiheadAttention``) are "attention", inside a patch embedding
    (its projection, class token and positions) "embedding"; otherwise by the owning module: convolutions
    "convolution", batch/layer/group norms "normalisation", Linear layers (FCN layers, classifiers, the
    ViT's MLPs and head) "mlp", nn.Embedding "embedding", anything else "other"."""
    types = {}
    for module_name, module in model.named_modules():
        ancestry = [module_name[: i] for i in range(len(module_name) + 1) if i == len(module_name) or module_name[i] == "."]
        owners = [type(model.get_submodule(prefix)).__name__ for prefix in ancestry if prefix]
        for parameter_name, _ in module.named_parameters(recurse=False):
            if any(owner in _ATTENTION_MODULES for owner in owners):
                kind = "attention"
            elif any(owner in _EMBEDDING_MODULES for owner in owners):
                kind = "embedding"
            else:
                kind = _module_type(module)
            types[f"{module_name}.{parameter_name}" if module_name else parameter_name] = kind
    return {name: types[name] for name, _ in model.named_parameters()}


def parameter_layout(model: nn.Module) -> list[tuple[str, int, int]]:
    """(name, offset, size) of every parameter tensor in parameters_to_vector order."""
    layout, offset = [], 0
    for name, parameter in model.named_parameters():
        layout.append((name, offset, parameter.numel()))
        offset += parameter.numel()
    return layout


LAYER_TYPE_COLUMNS = ["run", "layer", "layer_type", "layer_params", "n_params"]


def layer_type_table(specs: dict):
    """One row per parameter tensor of each run of ``specs`` (run id → the workflow's run spec, with
    ``dataset`` and ``model``): its layer type (:func:`parameter_types`), size and the model's total
    parameter count, by rebuilding the model at its initialisation shape (no weights are read). Runs
    whose model cannot be rebuilt here (a user's npz dataset or factory that is not importable) get
    no rows."""
    import pandas as pd

    from sgnoise.data import dataset_info

    rows = []
    for run, spec in specs.items():
        try:
            info = dataset_info(spec["dataset"]) if not spec.get("dataset_path") else None
            if info is None:
                continue
            model = build_model(spec["model"], info.input_shape, info.num_classes)
        except (ValueError, ImportError, KeyError, TypeError):
            continue
        types = parameter_types(model)
        total = sum(parameter.numel() for parameter in model.parameters())
        rows += [dict(run=run, layer=name, layer_type=types[name], layer_params=parameter.numel(), n_params=total)
                 for name, parameter in model.named_parameters()]
    return pd.DataFrame(rows, columns=LAYER_TYPE_COLUMNS)
