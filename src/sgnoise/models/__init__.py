"""Models: the registry that builds a run's network from its spec, and where its parameters lie.

FCN(depth, width): bias-free Linear layers with ReLU (docs/science.md §4, :mod:`sgnoise.models.fcn`); AlexNet and VGG
(:mod:`sgnoise.models.cnn`), CIFAR ResNet (:mod:`sgnoise.models.resnet`), a small ViT (:mod:`sgnoise.models.vit`), and
user models built by a factory function named in the config (``custom``). Losses: :mod:`sgnoise.models.losses`.
"""

from sgnoise.models._layers import (LAYER_TYPE_COLUMNS, LAYER_TYPES, layer_type_table, parameter_layout,
                                    parameter_types)
from sgnoise.models._registry import (CustomModelError, build_custom_model, build_model, check_model, kaiming_initialise,
                                      load_factory)
from sgnoise.models.fcn import FCN, fcn_num_parameters
from sgnoise.study.naming import MODELS, model_tag  # torch-free; re-exported

__all__ = ["CustomModelError", "FCN", "LAYER_TYPES", "LAYER_TYPE_COLUMNS", "MODELS", "build_custom_model", "build_model",
           "check_model", "fcn_num_parameters", "kaiming_initialise", "layer_type_table", "load_factory", "model_tag",
           "parameter_layout", "parameter_types"]
