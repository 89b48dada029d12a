"""The noise pass of CNNs with dropout (AlexNet, VGG) and batch norm (VGG): it runs in eval mode, so its
gradients are the brute-force per-mini-batch gradients of model.eval(), not those of train mode."""

import copy

import pytest
import torch

from sgnoise.models.losses import cross_entropy
from sgnoise.models.cnn import alexnet, vgg
from sgnoise.noise.measure import gradient_noise, measure_noise

from test_noise import brute_force_gradients


def _models():
    torch.manual_seed(0)
    return {"alexnet": (alexnet(1, 3, in_channels=1, input_size=28), (1, 28, 28)),
            "vgg-bn": (vgg("vgg11", 3, batch_norm=True, in_channels=1, width=2), (1, 32, 32))}


@pytest.mark.parametrize("name", ["alexnet", "vgg-bn"])
def test_cnn_noise_pass_is_in_eval_mode(name):
    model, shape = _models()[name]
    torch.manual_seed(1)
    x, y = torch.randn(12, *shape), torch.randint(0, 3, (12,))
    batches = [torch.arange(k * 4, (k + 1) * 4) for k in range(3)]
    model.eval()
    expected = brute_force_gradients(model, cross_entropy, x, y, batches)
    in_train_mode = copy.deepcopy(model).train()  # a copy: train-mode passes move batch norm's running statistics
    torch.manual_seed(2)
    trained = brute_force_gradients(in_train_mode, cross_entropy, x, y, batches)
    assert (trained - expected).abs().max() > 1e-3 * expected.abs().max()  # train mode gives other gradients
    model.train()
    noise, full = gradient_noise(model, cross_entropy, x, y, 4)
    assert model.training  # the caller's mode is restored
    torch.testing.assert_close(full, expected.mean(0), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(noise, expected - expected.mean(0), rtol=1e-4, atol=1e-6)
    columns = torch.arange(0, expected.shape[1], 7)
    streamed = measure_noise(model, cross_entropy, x, y, 4, columns, pooled={"k1_grid": [2], "zeros": "exclude"},
                             matrix_memory_mb=0)  # the two-pass path, no K × P matrix
    assert not streamed.held and model.training
    torch.testing.assert_close(streamed.full_gradient, full, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(streamed.stored, noise[:, columns], rtol=1e-5, atol=1e-7)
