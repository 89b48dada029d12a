import numpy as np
import pytest
import torch

from sgnoise.models.losses import cross_entropy, linear_hinge
from sgnoise.models import FCN
from sgnoise.noise.measure import gradient_noise, random_minibatch_noise, select_columns


def brute_force_gradients(model, loss_fn, x, y, batches):
    rows = []
    for index in batches:
        model.zero_grad(set_to_none=True)
        loss_fn(model(x[index]), y[index]).backward()
        rows.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    model.zero_grad(set_to_none=True)
    return torch.stack(rows)


@pytest.mark.parametrize("loss_fn", [cross_entropy, linear_hinge])
def test_gradient_noise_matches_brute_force(loss_fn):
    torch.manual_seed(0)
    model = FCN(12, 3, 6, 4)
    x, y = torch.randn(53, 12), torch.randint(0, 4, (53,))
    noise, full = gradient_noise(model, loss_fn, x, y, 10)
    batches = [torch.arange(k * 10, (k + 1) * 10) for k in range(5)]  # 53 // 10 = 5 batches, 3 points unused
    gradients = brute_force_gradients(model, loss_fn, x, y, batches)
    assert noise.shape == (5, sum(p.numel() for p in model.parameters())) and noise.dtype == torch.float32
    torch.testing.assert_close(full, gradients.mean(0), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(noise, gradients - gradients.mean(0), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(noise.mean(0), torch.zeros_like(full), rtol=0, atol=1e-6)


def test_gradient_noise_leaves_model_state_alone():
    torch.manual_seed(0)
    model = FCN(5, 2, 3, 2)
    model.train()
    x, y = torch.randn(8, 5), torch.randint(0, 2, (8,))
    before = [p.detach().clone() for p in model.parameters()]
    gradient_noise(model, cross_entropy, x, y, 4)
    assert model.training
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_random_minibatch_noise_matches_brute_force():
    torch.manual_seed(0)
    model = FCN(7, 2, 5, 3)
    x, y = torch.randn(40, 7), torch.randint(0, 3, (40,))
    _, full = gradient_noise(model, cross_entropy, x, y, 8)
    noise = random_minibatch_noise(model, cross_entropy, x, y, 8, 6, full, torch.Generator().manual_seed(3))
    generator = torch.Generator().manual_seed(3)
    batches = [torch.randperm(40, generator=generator)[:8] for _ in range(6)]
    assert all(len(set(b.tolist())) == 8 for b in batches)
    expected = brute_force_gradients(model, cross_entropy, x, y, batches) - full
    torch.testing.assert_close(noise, expected, rtol=1e-5, atol=1e-7)


def test_select_columns():
    assert np.array_equal(select_columns(10, None, 0), np.arange(10))
    assert np.array_equal(select_columns(10, 50, 0), np.arange(10))
    subset = select_columns(1000, 100, 7)
    assert len(subset) == 100 and len(np.unique(subset)) == 100 and np.all(np.diff(subset) > 0)
    assert np.array_equal(subset, select_columns(1000, 100, 7))
    assert not np.array_equal(subset, select_columns(1000, 100, 8))
    with pytest.raises(ValueError, match="max_coords"):
        select_columns(1000, 0, 0)


def test_batch_size_larger_than_set_is_an_error():
    model = FCN(3, 2, 2, 2)
    with pytest.raises(ValueError, match="batch_size"):
        gradient_noise(model, cross_entropy, torch.randn(5, 3), torch.zeros(5, dtype=torch.long), 6)


def test_measure_noise_memory_switch_zero_policies_and_passes():
    """Held exactly up to ``matrix_memory_mb``, else recomputed; the same statistics either way for both
    zero policies; N predicted right, so one backward pass per mini-batch held and two recomputed."""
    from sgnoise.noise.measure import CheckpointNoise, measure_noise, partition_batches

    torch.manual_seed(0)
    model = FCN(6, 2, 8, 3)
    x, y = torch.randn(40, 6), torch.randint(0, 3, (40,))
    x[:, 0] = 0  # the weights from input 0 get exact-zero gradients and noise
    calls = []
    model.register_forward_hook(lambda *_: calls.append(1))
    n_params, k = 6 * 8 + 8 * 3, 4
    exact_mb = k * n_params * 4 / 2**20
    columns = torch.tensor([0, 5, 60])
    for zeros in ("exclude", "eps"):
        options = dict(k1_grid=[2, 3], zeros=zeros)
        runs = {}
        for mb in (exact_mb, exact_mb * (1 - 1e-9)):
            calls.clear()
            runs[mb] = measure_noise(model, cross_entropy, x, y, 10, columns, pooled=options, matrix_memory_mb=mb)
            assert runs[mb].finite and len(calls) == (k if runs[mb].held else 2 * k), (zeros, mb)
        held, streamed = runs[exact_mb], runs[exact_mb * (1 - 1e-9)]
        assert held.held and not streamed.held
        noise, full = gradient_noise(model, cross_entropy, x, y, 10)
        used = int(torch.count_nonzero(noise)) if zeros == "exclude" else noise.numel()
        assert (zeros == "eps") == (used == k * n_params)  # the zeros are there to exclude
        assert int(held.pooled["n_used"]) == int(streamed.pooled["n_used"]) == used
        torch.testing.assert_close(streamed.stored, noise[:, columns], rtol=0, atol=1e-7)
        for key in held.pooled:
            np.testing.assert_allclose(held.pooled[key], streamed.pooled[key], rtol=1e-12, err_msg=key)
    assert measure_noise(model, cross_entropy, x, y, 10, columns).pooled is None
    # non-finite gradients: flagged, no pooled statistics, on both paths
    with torch.no_grad():
        model.layers[0].weight[0, 0] = float("inf")
    for mb in (1024.0, 0.0):
        bad = measure_noise(model, cross_entropy, x, y, 10, columns, pooled=dict(k1_grid=[2], zeros="exclude"),
                            matrix_memory_mb=mb)
        assert not bad.finite and bad.pooled is None and bad.held == (mb > 0)
    # the defaults and the smallest batch size and coordinate count
    assert CheckpointNoise(torch.zeros(1), torch.zeros(1), True).pooled is None
    assert CheckpointNoise(torch.zeros(1), torch.zeros(1), True).held
    assert len(partition_batches(5, 1)) == 5 and len(partition_batches(5, 5)) == 1
    assert len(select_columns(10, 1, 0)) == 1
