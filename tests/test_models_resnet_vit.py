"""CIFAR ResNet and the small ViT: shapes, parameter counts (closed form against a brute-force count),
ResNet-20's 0.27 M parameters, batch norm on/off, ViT argument checks, layer types of every built-in model."""

import pytest
import torch
from torch import nn

from sgnoise.models import LAYER_TYPES, build_model, parameter_layout, parameter_types
from sgnoise.models.resnet import resnet, resnet_blocks, resnet_num_parameters
from sgnoise.models.vit import vit, vit_num_parameters
from sgnoise.study.naming import model_problem, model_tag


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_resnet20_has_the_papers_parameter_count():
    # He et al. 2016, Table 6: ResNet-20 on CIFAR-10 has 0.27 M parameters (option-A shortcuts)
    model = resnet(20, 10)
    assert _count(model) == resnet_num_parameters(20, 10) == 269722
    assert len([m for m in model.modules() if isinstance(m, nn.Conv2d)]) + 1 == 20  # 19 convs + the FC layer


@pytest.mark.parametrize("depth, width, batch_norm, classes, channels", [
    (8, 4, True, 10, 1), (8, 4, False, 10, 1), (14, 8, True, 100, 3), (20, 16, False, 10, 3), (32, 2, True, 7, 3)])
def test_resnet_shapes_and_parameter_count(depth, width, batch_norm, classes, channels):
    torch.manual_seed(0)
    model = resnet(depth, classes, width=width, batch_norm=batch_norm, in_channels=channels)
    for side in (28, 32):
        assert model(torch.randn(3, channels, side, side)).shape == (3, classes)
    assert _count(model) == model.num_parameters == resnet_num_parameters(depth, classes, width, batch_norm, channels)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == (depth - 1 if batch_norm else 0)  # one per conv
    assert all((m.bias is None) == batch_norm for m in model.modules() if isinstance(m, nn.Conv2d))


def test_resnet_without_batch_norm_starts_each_block_as_the_identity():
    model = resnet(8, 10, width=4, batch_norm=False, in_channels=1)
    block = model.stages[0][0]
    x = torch.randn(2, 4, 8, 8).abs()
    assert torch.equal(block(x), torch.relu(x))  # conv2 = 0: the branch adds nothing yet
    assert float(model.stages[1][0].conv1.weight.detach().abs().sum()) > 0


def test_resnet_batch_norm_uses_running_statistics_in_eval_mode():
    model = resnet(8, 10, width=4, in_channels=1).eval()
    x = torch.randn(4, 1, 28, 28)
    assert torch.allclose(model(x[:1]), model(x)[:1], atol=1e-6)  # a sample's output ignores its batch


@pytest.mark.parametrize("depth", [2, 7, 9, 19, 21])
def test_resnet_depth_must_be_6n_plus_2(depth):
    with pytest.raises(ValueError, match="6n \\+ 2"):
        resnet_blocks(depth)
    assert "6n + 2" in model_problem({"model": "resnet", "depth": depth, "width": 4, "batch_norm": True}, (1, 28, 28))


@pytest.mark.parametrize("depth, width, heads, patch, classes, channels, side", [
    (1, 8, 2, 7, 10, 1, 28), (2, 32, 4, 4, 10, 1, 28), (3, 48, 6, 4, 100, 3, 32), (2, 16, 1, 8, 10, 3, 32)])
def test_vit_shapes_and_parameter_count(depth, width, heads, patch, classes, channels, side):
    torch.manual_seed(0)
    model = vit(depth, width, heads, patch, classes, in_channels=channels, input_size=side)
    assert model(torch.randn(3, channels, side, side)).shape == (3, classes)
    assert _count(model) == model.num_parameters == vit_num_parameters(depth, width, heads, patch, classes, channels, side)
    assert model.embed.pos.shape == (1, (side // patch) ** 2 + 1, width)


def test_vit_parameter_count_by_hand():
    # d = 8, 1 block, MLP ratio 2, 4×4 patches of 8×8 grey images (4 tokens + the class token), 3 classes
    embed = 16 * 8 + 8 + 8 + 5 * 8
    block = 2 * 16 + (3 * 64 + 24) + (64 + 8) + (8 * 16 + 16 + 16 * 8 + 8)
    assert _count(vit(1, 8, 2, 4, 3, in_channels=1, input_size=8)) == embed + block + 16 + 8 * 3 + 3 == 827


def test_vit_attention_matches_multihead_attention():
    torch.manual_seed(0)
    model = vit(1, 16, 4, 4, 10, in_channels=1, input_size=8)
    attention = model.blocks[0].attn
    reference = nn.MultiheadAttention(16, 4, batch_first=True)
    with torch.no_grad():
        reference.in_proj_weight.copy_(attention.qkv.weight)
        reference.in_proj_bias.copy_(attention.qkv.bias)
        reference.out_proj.weight.copy_(attention.proj.weight)
        reference.out_proj.bias.copy_(attention.proj.bias)
    x = torch.randn(2, 5, 16)
    assert torch.allclose(attention(x), reference(x, x, x, need_weights=False)[0], atol=1e-5)


def test_vit_sample_outputs_do_not_depend_on_the_batch_in_either_mode():
    model = vit(2, 16, 2, 7, 10, in_channels=1, input_size=28)
    x = torch.randn(4, 1, 28, 28)
    for mode in (True, False):
        model.train(mode)
        assert torch.allclose(model(x[:1]), model(x)[:1], atol=1e-5)


def test_vit_heads_and_patch_are_checked():
    with pytest.raises(ValueError, match="heads \\(3\\) must divide the width \\(16\\)"):
        vit(1, 16, 3, 4, 10)
    with pytest.raises(ValueError, match="patch size 5 must divide the image side 32"):
        vit(1, 16, 2, 5, 10)
    with pytest.raises(ValueError, match="28×28 inputs"):
        vit(1, 16, 2, 4, 10, in_channels=1, input_size=28)(torch.randn(1, 1, 32, 32))
    spec = {"model": "vit", "depth": 1, "width": 16, "heads": 3, "patch": 4}
    assert "must divide the width" in model_problem(spec, (1, 28, 28))
    assert "must divide the (square) image side" in model_problem(dict(spec, heads=2, patch=5), (1, 28, 28))
    assert model_problem(dict(spec, heads=2, patch=7), (1, 28, 28)) is None


def test_build_model_and_run_ids_of_the_new_models():
    resnet_spec = {"model": "resnet", "depth": 8, "width": 4, "batch_norm": False}
    vit_spec = {"model": "vit", "depth": 2, "width": 16, "heads": 2, "patch": 7}
    assert model_tag(resnet_spec) == "resnet8-w4" and model_tag(dict(resnet_spec, batch_norm=True)) == "resnet8-w4-bn"
    assert model_tag(vit_spec) == "vit-d2-w16-h2-p7"
    assert _count(build_model(resnet_spec, (1, 28, 28), 10)) == resnet_num_parameters(8, 10, 4, False, 1)
    assert _count(build_model(vit_spec, (1, 28, 28), 10)) == vit_num_parameters(2, 16, 2, 7, 10, 1, 28)


BUILT_IN = [
    ({"model": "fcn", "depth": 3, "width": 8}, (1, 28, 28), {"mlp"}),
    ({"model": "alexnet", "scale": 4}, (3, 32, 32), {"convolution", "mlp"}),
    ({"model": "vgg", "variant": 11, "width": 4, "batch_norm": True}, (3, 32, 32), {"convolution", "normalisation", "mlp"}),
    ({"model": "resnet", "depth": 8, "width": 4, "batch_norm": True}, (1, 28, 28), {"convolution", "normalisation", "mlp"}),
    ({"model": "resnet", "depth": 8, "width": 4, "batch_norm": False}, (1, 28, 28), {"convolution", "mlp"}),
    ({"model": "vit", "depth": 2, "width": 8, "heads": 2, "patch": 7}, (1, 28, 28),
     {"embedding", "attention", "mlp", "normalisation"}),
]


@pytest.mark.parametrize("spec, shape, expected", BUILT_IN, ids=lambda v: model_tag(v) if isinstance(v, dict) and "model" in v else None)
def test_parameter_types_of_every_built_in_model(spec, shape, expected):
    model = build_model(spec, shape, 10)
    types = parameter_types(model)
    assert list(types) == [name for name, _, _ in parameter_layout(model)]  # the layout's names, in its order
    assert set(types.values()) == expected and set(types.values()) <= set(LAYER_TYPES)
    for name, module in model.named_modules():  # agrees with the module class owning each parameter
        for parameter, _ in module.named_parameters(prefix=name, recurse=False):
            kind = {nn.Conv2d: "convolution", nn.BatchNorm2d: "normalisation", nn.LayerNorm: "normalisation",
                    nn.Linear: "mlp"}.get(type(module))
            if ".attn." in parameter:
                kind = "attention"
            elif parameter.startswith("embed."):
                kind = "embedding"
            assert types[parameter] == kind, parameter


def test_vit_layer_types_by_name():
    types = parameter_types(vit(1, 8, 2, 7, 10, in_channels=1, input_size=28))
    assert {name: kind for name, kind in types.items() if not name.startswith("blocks.0.mlp")} == {
        "embed.cls": "embedding", "embed.pos": "embedding", "embed.proj.weight": "embedding", "embed.proj.bias": "embedding",
        "blocks.0.norm1.weight": "normalisation", "blocks.0.norm1.bias": "normalisation",
        "blocks.0.attn.qkv.weight": "attention", "blocks.0.attn.qkv.bias": "attention",
        "blocks.0.attn.proj.weight": "attention", "blocks.0.attn.proj.bias": "attention",
        "blocks.0.norm2.weight": "normalisation", "blocks.0.norm2.bias": "normalisation",
        "norm.weight": "normalisation", "norm.bias": "normalisation", "head.weight": "mlp", "head.bias": "mlp"}
