"""AlexNet-style CNN and CIFAR VGG: shapes, parameter counts against hand-derived numbers, eval mode."""

import pytest
import torch
from torch import nn

from sgnoise.models.cnn import (
    alexnet,
    alexnet_feature_side,
    alexnet_hidden_width,
    alexnet_num_parameters,
    vgg,
    vgg_num_parameters,
)


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("scale, classes", [(1, 10), (4, 100), (16, 10), (64, 100)])
def test_alexnet_output_shape_and_parameter_count(scale, classes):
    torch.manual_seed(0)
    model = alexnet(scale, classes)
    assert model(torch.randn(3, 3, 32, 32)).shape == (3, classes)
    assert model.num_features == scale  # 32 -> 17 -> 8 -> 3 -> 1
    assert _count(model) == model.num_parameters == alexnet_num_parameters(scale, classes)


def test_alexnet_parameter_count_by_hand():
    # ch = 64, 10 classes: hidden 64·(1 + log2 64) = 448.
    convs = (3 * 64 * 4 * 4 + 64) + (64 * 64 * 5 * 5 + 64) + 3 * (64 * 64 * 3 * 3 + 64)
    dense = (64 * 448 + 448) + (448 * 448 + 448) + (448 * 10 + 10)
    assert convs + dense == 451146
    assert _count(alexnet(64, 10)) == 451146
    assert alexnet_num_parameters(64, 10) == 451146


def test_alexnet_hidden_width_matches_the_paper_formula():
    for ch in (1, 2, 3, 5, 8, 12, 64, 100, 128, 1000, 1024):
        assert alexnet_hidden_width(ch) == ch * (1 + int(torch.tensor(float(ch)).log2().floor()))
    assert alexnet_hidden_width(64) == 448
    assert alexnet(8, 10).classifier[1].out_features == 8 * 4


def test_alexnet_layout_matches_the_paper():
    model = alexnet(16, 10)
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert [tuple(c.weight.shape) for c in convs] == [(16, 3, 4, 4), (16, 16, 5, 5)] + [(16, 16, 3, 3)] * 3
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.features) == 3
    kinds = [type(m) for m in model.classifier]
    assert kinds == [nn.Dropout, nn.Linear, nn.ReLU, nn.Dropout, nn.Linear, nn.ReLU, nn.Linear]


def test_alexnet_other_input_sizes_and_channels():
    # 64×64 grey inputs: side 33 -> 16 -> 7 -> 3, so 9·ch features.
    assert alexnet_feature_side(64) == 3
    model = alexnet(4, 10, in_channels=1, input_size=64)
    assert model(torch.randn(2, 1, 64, 64)).shape == (2, 10)
    assert _count(model) == alexnet_num_parameters(4, 10, in_channels=1, input_size=64)


@pytest.mark.parametrize("variant, batch_norm", [("vgg11", False), ("vgg11", True), ("vgg16", False), ("vgg16", True)])
def test_vgg_features_match_torchvision(variant, batch_norm):
    """Conv stack of width 64 equals torchvision's ImageNet VGG's (independent reference), minus biases under BN."""
    from torchvision.models.vgg import cfgs, make_layers  # the feature builder behind torchvision.models.vgg11/16

    reference = make_layers(cfgs[{"vgg11": "A", "vgg16": "D"}[variant]], batch_norm=batch_norm)
    model = vgg(variant, 10, batch_norm=batch_norm)
    ours = [tuple(m.weight.shape) for m in model.features if isinstance(m, nn.Conv2d)]
    theirs = [tuple(m.weight.shape) for m in reference if isinstance(m, nn.Conv2d)]
    assert ours == theirs
    conv_biases = sum(m.out_channels for m in reference if isinstance(m, nn.Conv2d))
    assert _count(model.features) == _count(reference) - (conv_biases if batch_norm else 0)


def test_vgg_parameter_count_by_hand():
    # VGG-11 features: 9,220,480 parameters (conv weights + biases); classifier 2·(512² + 512) + 512·10 + 10.
    pairs = [(3, 64), (64, 128), (128, 256), (256, 256), (256, 512)] + [(512, 512)] * 3
    features = sum(9 * a * b + b for a, b in pairs)
    assert features == 9220480
    assert _count(vgg("vgg11", 10)) == features + 2 * (512 * 512 + 512) + 5130 == 9750922
    for variant in ("vgg11", "vgg13", "vgg16", "vgg19"):
        for batch_norm in (False, True):
            for width, classes in ((4, 10), (8, 100)):
                model = vgg(variant, classes, batch_norm=batch_norm, width=width)
                assert _count(model) == model.num_parameters
                assert model.num_parameters == vgg_num_parameters(variant, classes, batch_norm, width=width)


@pytest.mark.parametrize("variant, batch_norm", [("vgg11", False), ("vgg16", True)])
def test_vgg_output_shape(variant, batch_norm):
    torch.manual_seed(0)
    model = vgg(variant, 100, batch_norm=batch_norm, width=4)
    assert model.num_features == 32
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 100)
    with pytest.raises(ValueError, match="32×32"):
        model(torch.randn(2, 3, 28, 28))


@pytest.mark.parametrize(
    "build",
    [lambda: alexnet(8, 10), lambda: vgg("vgg11", 10, width=4), lambda: vgg("vgg11", 10, batch_norm=True, width=4)],
)
def test_eval_mode_disables_dropout(build):
    torch.manual_seed(0)
    model = build()
    x = torch.randn(8, 3, 32, 32)
    model.train()
    with torch.no_grad():
        assert not torch.equal(model(x), model(x))  # dropout is really there in training mode
    model.eval()
    with torch.no_grad():
        first, second = model(x), model(x)
    assert torch.equal(first, second)


def test_eval_mode_batchnorm_output_does_not_depend_on_the_batch():
    torch.manual_seed(0)
    model = vgg("vgg11", 10, batch_norm=True, width=4)
    model.train()
    with torch.no_grad():
        model(torch.randn(16, 3, 32, 32))  # move the running statistics off their initial values
    model.eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        together = model(x)
        alone = torch.cat([model(x[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-6)


def test_same_seed_same_weights():
    def weights(seed):
        torch.manual_seed(seed)
        return torch.cat([p.detach().flatten() for p in vgg("vgg11", 10, width=4).parameters()])

    assert torch.equal(weights(3), weights(3))
    assert not torch.equal(weights(3), weights(4))


def test_bad_arguments():
    with pytest.raises(ValueError, match="scale"):
        alexnet(0, 10)
    with pytest.raises(TypeError, match="scale"):
        alexnet(2.0, 10)
    with pytest.raises(ValueError, match="num_classes"):
        alexnet(4, 0)
    with pytest.raises(ValueError, match="input_size"):
        alexnet(4, 10, input_size=4)
    # 28 (MNIST) is the smallest input with a feature map left after the three max-pools
    assert alexnet(1, 10, in_channels=1, input_size=28).num_features == 1
    with pytest.raises(ValueError, match="input_size must be >= 28.*got 27"):
        alexnet(1, 10, in_channels=1, input_size=27)
    with pytest.raises(ValueError, match="variant"):
        vgg("vgg12", 10)
    with pytest.raises(TypeError, match="batch_norm"):
        vgg("vgg11", 10, batch_norm="yes")
    with pytest.raises(TypeError, match="width"):
        vgg("vgg11", 10, width=None)


def test_kaiming_init_keeps_the_signal_through_alexnet():
    """On 28 × 28 inputs PyTorch's default init shrinks the signal ≈ √6× per ReLU layer: the logits
    barely vary across inputs (why the default study's AlexNets never left chance); Kaiming-normal
    keeps their spread of order one. The run id says which init a run used."""
    import torch
    from sgnoise.models import build_model
    from sgnoise.study.naming import model_tag
    x = torch.randn(256, 1, 28, 28)
    spread = {}
    for init in ("default", "kaiming"):
        torch.manual_seed(0)
        model = build_model({"model": "alexnet", "scale": 8, "init": init}, (1, 28, 28), 10).eval()
        with torch.no_grad():
            spread[init] = float(model(x).std(0).mean())
    assert spread["default"] < 0.05 and spread["kaiming"] > 0.3, spread
    assert model_tag({"model": "alexnet", "scale": 8, "init": "kaiming"}) == "alexnet-c8-kaiming"
    assert model_tag({"model": "alexnet", "scale": 8, "init": "default"}) == "alexnet-c8"
    with pytest.raises(ValueError, match="init"):
        build_model({"model": "alexnet", "scale": 8, "init": "xavier"}, (1, 28, 28), 10)
