"""Where a model's parameters lie in the flat parameter vector and which kind of layer each belongs to."""

from __future__ import annotations

from torch import nn

from sgnoise.models._registry import build_model


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
