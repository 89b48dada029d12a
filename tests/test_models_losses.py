import math

import pytest
import torch

from sgnoise.models.losses import cross_entropy, get_loss, linear_hinge
from sgnoise.models import FCN, build_model, fcn_num_parameters, model_tag, parameter_layout


@pytest.mark.parametrize("depth,width", [(2, 4), (3, 16), (5, 32)])
def test_fcn_shapes_and_parameter_count(depth, width):
    model = FCN(784, depth, width, 10)
    assert model(torch.zeros(7, 1, 28, 28)).shape == (7, 10)
    count = sum(p.numel() for p in model.parameters())
    assert count == fcn_num_parameters(784, depth, width, 10) == 784 * width + (depth - 2) * width**2 + width * 10
    assert len(model.layers) == depth
    assert all(layer.bias is None for layer in model.layers)


def test_fcn_is_relu_between_bias_free_linear_layers():
    torch.manual_seed(0)
    model = FCN(6, 3, 5, 4)
    x = torch.randn(3, 6)
    w = [layer.weight for layer in model.layers]
    expected = torch.relu(torch.relu(x @ w[0].T) @ w[1].T) @ w[2].T
    torch.testing.assert_close(model(x), expected)


def test_parameter_layout_matches_parameters_to_vector():
    model = build_model({"model": "fcn", "depth": 3, "width": 5}, (1, 4, 4), 3)
    layout = parameter_layout(model)
    vector = torch.nn.utils.parameters_to_vector(model.parameters())
    for (name, offset, size), parameter in zip(layout, model.parameters()):
        torch.testing.assert_close(vector[offset:offset + size], parameter.detach().flatten())
    assert layout[-1][1] + layout[-1][2] == vector.numel()
    assert [name for name, _, _ in layout] == ["layers.0.weight", "layers.1.weight", "layers.2.weight"]


def test_model_tag_and_bad_model():
    assert model_tag({"model": "fcn", "depth": 3, "width": 128}) == "fcn-d3-w128"
    with pytest.raises(ValueError, match="unknown model 'mlp'"):
        model_tag({"model": "mlp"})
    with pytest.raises(ValueError, match="depth"):
        FCN(10, 1, 4, 2)


def test_linear_hinge_hand_computation():
    outputs = torch.tensor([[2.0, -0.5, 0.3], [0.0, 1.5, -2.0]])
    targets = torch.tensor([0, 2])
    # row 0: true class 0 → max(0, 1−2)=0; others: max(0, 1−0.5)=0.5, max(0, 1+0.3)=1.3
    # row 1: true class 2 → max(0, 1+2)=3; others: max(0, 1+0)=1, max(0, 1+1.5)=2.5
    expected = (0 + 0.5 + 1.3 + 1 + 2.5 + 3) / 6
    assert linear_hinge(outputs, targets).item() == pytest.approx(expected)


def test_linear_hinge_matches_loop_on_random_data():
    torch.manual_seed(1)
    outputs, targets = torch.randn(20, 7), torch.randint(0, 7, (20,))
    total = 0.0
    for i in range(20):
        for c in range(7):
            t = 1.0 if c == targets[i] else -1.0
            total += max(0.0, 1.0 - t * outputs[i, c].item())
    assert linear_hinge(outputs, targets).item() == pytest.approx(total / 140, rel=1e-6)


def test_cross_entropy_matches_log_softmax_by_hand():
    outputs, targets = torch.tensor([[1.0, 2.0, 0.5]]), torch.tensor([1])
    expected = -(2.0 - math.log(math.exp(1.0) + math.exp(2.0) + math.exp(0.5)))
    assert cross_entropy(outputs, targets).item() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="unknown loss 'mse'"):
        get_loss("mse")


def test_losses_by_name_and_closed_form_deltas_match_autograd():
    from sgnoise.models.losses import LOSS_AND_DELTA, LOSSES

    assert get_loss("nll") is cross_entropy and get_loss("hinge") is linear_hinge
    assert set(LOSS_AND_DELTA) == set(LOSSES) == {"nll", "hinge"}
    torch.manual_seed(2)
    outputs, targets = torch.randn(3, 5, 4, dtype=torch.float64), torch.randint(0, 4, (3, 5))
    outputs[0, 0, 1] = 1.0 if targets[0, 0] == 1 else -1.0  # one margin exactly 0: the kink
    for name, loss_and_delta in LOSS_AND_DELTA.items():
        leaf = outputs.clone().requires_grad_(True)
        expected = torch.stack([LOSSES[name](leaf[g], targets[g]) for g in range(3)])
        expected.sum().backward()
        losses, delta = loss_and_delta(outputs.clone(), targets)
        torch.testing.assert_close(losses, expected.detach(), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(delta, leaf.grad, rtol=1e-12, atol=1e-12)
