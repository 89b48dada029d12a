"""Bundled training against the reference: the same runs trained one by one with train_run."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch

import sgnoise.training.single
from sgnoise.training.bundle import (SHARED_FIELDS, VARYING_FIELDS, MemberLosses, bundle_key, check_bundle, choose_bundle_size,
                            fcn_forward, fcn_outputs, member_memory_bytes, minibatch_gradients, sgd_update,
                            train_bundle)
from sgnoise.models.losses import get_loss
from sgnoise.models import FCN
from sgnoise.noise.measure import minibatch_gradients as reference_minibatch_gradients
from sgnoise.noise.dump import NoiseDump
from sgnoise.training import RunSpec, train_run

ITERATIONS = 100
CHECKPOINTS = [0, 3, 20, 55, ITERATIONS]


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: fast on a shared machine (no spinning OpenMP workers) and the same numerics everywhere."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def synthetic_data(n=160, d=12, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 1, d, generator=g)
    y = (x.flatten(1)[:, :classes] + 0.5 * torch.randn(n, classes, generator=g)).argmax(1).long()
    return dict(train_x=x[:120], train_y=y[:120], test_x=x[120:], test_y=y[120:], num_classes=classes)


def spec(**changes):
    values = dict(run_id="toy/fcn-d3-w8/nll/b20/s10", dataset="toy", model={"model": "fcn", "depth": 3, "width": 8},
                  loss="nll", batch_size=20, lr=0.1, iterations=ITERATIONS, seed=10, lr_milestones=[1 / 3, 2 / 3],
                  checkpoints=CHECKPOINTS, max_coords=60, random_minibatches=3)
    values.update(changes)
    return RunSpec(**values)


# seeds 10.. keep the members' data-order generators apart from the noise generator (seed noise_seed + 1 = 1)
MEMBERS = [dict(seed=10, lr=0.1, loss="nll"), dict(seed=11, lr=0.05, loss="hinge"),
           dict(seed=12, lr=0.2, loss="nll"), dict(seed=13, lr=0.1, loss="hinge")]


def member_specs(members=MEMBERS, **changes):
    return [spec(run_id=f"toy/m{i}/s{m['seed']}", **m, **changes) for i, m in enumerate(members)]


def output_paths(root, count):
    return [dict(noise=root / f"m{i}" / "noise.h5", metrics=root / f"m{i}" / "metrics.csv",
                 status=root / f"m{i}" / "status.json") for i in range(count)]


class RandpermSpy:
    """Wraps torch.randperm; records every permutation drawn from a seeded generator, by seed."""

    def __init__(self, monkeypatch):
        self.drawn, self.original = {}, torch.randperm
        monkeypatch.setattr(torch, "randperm", self)

    def __call__(self, *args, generator=None, **kwargs):
        result = self.original(*args, generator=generator, **kwargs)
        if generator is not None:
            self.drawn.setdefault(generator.initial_seed(), []).append(result.clone())
        return result


def train_alone(specs, data, root, monkeypatch):
    """train_run each spec; return (paths, final flat parameters) of each (the model is captured)."""
    models = []

    def capturing_build_model(*args, **kwargs):
        models.append(build_model(*args, **kwargs))
        return models[-1]

    build_model = sgnoise.training.single.build_model
    monkeypatch.setattr(sgnoise.training.single, "build_model", capturing_build_model)
    paths = output_paths(root, len(specs))
    for s, p in zip(specs, paths):
        train_run(s, data, p["noise"], p["metrics"], p["status"])
    monkeypatch.setattr(sgnoise.training.single, "build_model", build_model)
    return paths, [torch.nn.utils.parameters_to_vector(m.parameters()).detach() for m in models]


def assert_same_outputs(alone, bundled, rtol=1e-4):
    """Same files, same metrics rows, same dump layout and attributes, arrays within float tolerance."""
    assert json.loads(alone["status"].read_text()) == json.loads(bundled["status"].read_text())
    a, b = pd.read_csv(alone["metrics"]), pd.read_csv(bundled["metrics"])
    assert list(a.columns) == list(b.columns) and a["iteration"].tolist() == b["iteration"].tolist()
    assert a["step_size"].tolist() == b["step_size"].tolist()
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=rtol, atol=1e-6)
    with NoiseDump(alone["noise"]) as da, NoiseDump(bundled["noise"]) as db:
        assert da.attrs == db.attrs  # run config, sizes, status, version: identical
        assert da.iterations == db.iterations
        assert np.array_equal(da.column_index, db.column_index) and da.layer_names == db.layer_names
        for iteration in da.iterations:
            for name in ("noise", "full_gradient", "noise_random"):
                x, y = da.read(iteration, name), db.read(iteration, name)
                assert x.shape == y.shape
                np.testing.assert_allclose(y, x, rtol=0, atol=rtol * np.abs(x).max(), err_msg=f"{name} @ {iteration}")
            attrs_a, attrs_b = da.checkpoint_attrs(iteration), db.checkpoint_attrs(iteration)
            assert attrs_a.keys() == attrs_b.keys()
            for key in attrs_a:
                assert attrs_b[key] == pytest.approx(attrs_a[key], rel=rtol, abs=1e-7), key


SAME_SEED = [dict(seed=10, lr=0.1, loss="nll"), dict(seed=10, lr=0.05, loss="hinge"), dict(seed=10, lr=0.2, loss="nll")]


@pytest.mark.parametrize("members", [MEMBERS, SAME_SEED], ids=["own_orders", "one_seed_shared_batches"])
def test_members_match_runs_trained_alone(tmp_path, monkeypatch, members):
    data, specs = synthetic_data(), member_specs(members)
    spy = RandpermSpy(monkeypatch)
    alone, alone_parameters = train_alone(specs, data, tmp_path / "alone", monkeypatch)
    drawn_alone, spy.drawn = spy.drawn, {}
    bundled = output_paths(tmp_path / "bundle", len(specs))
    statuses, parameters = train_bundle(specs, data, bundled, return_parameters=True)
    assert all(s["status"] == "ok" and s["iterations_done"] == ITERATIONS for s in statuses)
    epochs = ITERATIONS // 6 + 1  # 120 points, b = 20
    for seed in {s.seed for s in specs}:  # identical data order: each member's own generator, same permutations
        runs = sum(s.seed == seed for s in specs)  # alone: run after run; bundled: epoch after epoch
        assert len(drawn_alone[seed]) == len(spy.drawn[seed]) == runs * epochs
        assert all(torch.equal(drawn_alone[seed][r * epochs + e], spy.drawn[seed][e * runs + r])
                   for r in range(runs) for e in range(epochs))
    # random mini-batches of the noise pass: one shared generator draws what each run draws alone
    assert all(torch.equal(p, q) for p, q in zip(drawn_alone[1], spy.drawn[1] * len(specs), strict=True))
    for expected, got in zip(alone_parameters, parameters, strict=True):  # after 100 SGD steps
        assert torch.linalg.vector_norm(got - expected) <= 1e-4 * torch.linalg.vector_norm(expected)
    assert not torch.allclose(alone_parameters[0], alone_parameters[2], rtol=0.1)  # members differ
    for a, b in zip(alone, bundled):
        assert_same_outputs(a, b)
    assert sorted(p.name for p in bundled[0]["noise"].parent.iterdir()) == ["metrics.csv", "noise.h5", "status.json"]


def test_initial_weights_are_bit_identical_to_train_run(tmp_path, monkeypatch):
    data, specs = synthetic_data(), member_specs(iterations=0, checkpoints=[0], random_minibatches=0)
    _, alone_parameters = train_alone(specs, data, tmp_path / "alone", monkeypatch)
    _, parameters = train_bundle(specs, data, output_paths(tmp_path / "bundle", len(specs)), return_parameters=True)
    assert all(torch.equal(a, b) for a, b in zip(alone_parameters, parameters, strict=True))


def test_bundles_are_reproducible_and_split_without_changing_results(tmp_path):
    data, specs = synthetic_data(), member_specs(iterations=30, checkpoints=[0, 30])
    first, second, split = (output_paths(tmp_path / name, len(specs)) for name in ("a", "b", "c"))
    train_bundle(specs, data, first)
    train_bundle(specs, data, second)
    train_bundle(specs, data, split, max_members=3)
    for a, b, c in zip(first, second, split):
        assert a["metrics"].read_bytes() == b["metrics"].read_bytes()
        with NoiseDump(a["noise"]) as da, NoiseDump(b["noise"]) as db:
            assert np.array_equal(da.noise_array(30), db.noise_array(30))
        assert_same_outputs(a, c, rtol=1e-5)


@pytest.mark.parametrize("checkpoints, diverged_at", [([0, 2, 12], 1), ([0, 1, 12], 1)],
                         ids=["in_a_step", "at_a_checkpoint"])
def test_diverging_member_is_recorded_and_the_others_go_on(tmp_path, monkeypatch, checkpoints, diverged_at):
    data = synthetic_data()
    specs = member_specs([dict(seed=10, lr=0.1, loss="nll"), dict(seed=11, lr=1e20, loss="hinge"),
                          dict(seed=12, lr=0.1, loss="hinge")], iterations=12, checkpoints=checkpoints)
    alone, _ = train_alone(specs, data, tmp_path / "alone", monkeypatch)
    bundled = output_paths(tmp_path / "bundle", len(specs))
    statuses = train_bundle(specs, data, bundled)
    assert [s["status"] for s in statuses] == ["ok", "diverged", "ok"]
    assert statuses[1]["diverged_at"] == diverged_at == json.loads(alone[1]["status"].read_text())["diverged_at"]
    last_row = pd.read_csv(bundled[1]["metrics"]).iloc[-1]
    assert last_row["iteration"] == diverged_at and not np.isfinite(last_row["train_loss"])
    assert np.isnan(last_row["test_loss"]) != (checkpoints == [0, 1, 12])  # a step's row has no test loss
    for a, b in zip(alone, bundled):
        assert_same_outputs(a, b)


def test_failing_member_writes_nothing_and_raises_after_the_others(tmp_path):
    specs = member_specs([dict(seed=10, lr=0.1, loss="nll"), dict(seed=11, lr=1e20, loss="hinge")],
                         iterations=20, checkpoints=[0, 20], on_divergence="fail")
    paths = output_paths(tmp_path, 2)
    with pytest.raises(FloatingPointError, match="toy/m1/s11"):
        train_bundle(specs, synthetic_data(), paths)
    assert all(p.exists() for p in paths[0].values())
    assert not any(p.exists() for p in paths[1].values())
    assert not paths[1]["noise"].parent.exists() or list(paths[1]["noise"].parent.iterdir()) == []


def test_fcn_outputs_and_minibatch_gradients_match_modules():
    torch.manual_seed(0)
    modules = [FCN(12, 4, 6, 3) for _ in range(3)]
    weights = [torch.stack(ws).detach() for ws in zip(*(list(m.parameters()) for m in modules))]
    x, y = torch.randn(3, 10, 12), torch.randint(0, 3, (10,))
    own = fcn_outputs(weights, x)
    shared = fcn_outputs(weights, x[0])
    for m, module in enumerate(modules):
        torch.testing.assert_close(own[m], module(x[m]), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(shared[m], module(x[0]), rtol=1e-5, atol=1e-6)
    names = ["nll", "hinge", "nll"]
    batches = torch.tensor([[0, 1, 2, 3], [4, 5, 6, 7], [9, 8, 1, 0]])
    columns = torch.tensor([0, 5, 80, 100, 140, 149])
    rows, total = minibatch_gradients(weights, MemberLosses(names), x[0], y, 4, columns, batches, chunk_batches=2)
    consecutive, consecutive_total = minibatch_gradients(weights, MemberLosses(names), x[0], y, 3)  # 3 batches of 3
    for m, module in enumerate(modules):
        expected = reference_minibatch_gradients(module, get_loss(names[m]), x[0], y, list(batches))
        torch.testing.assert_close(rows[m], expected[:, columns], rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(total[m], expected.sum(0), rtol=1e-5, atol=1e-6)
        expected = reference_minibatch_gradients(module, get_loss(names[m]), x[0], y, list(torch.arange(9).view(3, 3)))
        torch.testing.assert_close(consecutive[m], expected, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(consecutive_total[m], expected.sum(0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shared", [False, True], ids=["own_inputs", "shared_inputs"])
def test_sgd_update_is_one_sgd_step_of_each_member(shared):
    torch.manual_seed(1)
    modules = [FCN(12, 3, 5, 3) for _ in range(3)]
    weights = [torch.stack(ws).detach().clone() for ws in zip(*(list(m.parameters()) for m in modules))]
    x, y = torch.randn(3, 8, 12), torch.randint(0, 3, (3, 8))
    if shared:
        x, y = x[0], y[0].expand(3, -1)
    names, step_sizes = ["nll", "hinge", "nll"], torch.tensor([0.1, 0.3, 0.05])
    out, record = fcn_forward(weights, x)
    losses, delta = MemberLosses(names).output_delta(out, y)
    summed = float(losses.sum())
    sgd_update(weights, record, delta, step_sizes)
    expected_sum = 0.0
    for m, module in enumerate(modules):  # the reference: nn.Module, autograd, p ← p − η ∇f
        loss = get_loss(names[m])(module(x if shared else x[m]), y[m])
        expected_sum += float(loss.detach())
        loss.backward()
        with torch.no_grad():
            for layer, p in enumerate(module.parameters()):
                p.add_(p.grad, alpha=-float(step_sizes[m]))
                torch.testing.assert_close(weights[layer][m], p, rtol=1e-5, atol=1e-7)
    assert summed == pytest.approx(expected_sum, rel=1e-6)


@pytest.mark.parametrize("lead", [(4,), (4, 3)], ids=["step", "noise_pass"])
def test_member_losses_and_closed_form_gradients_match_autograd(lead):
    torch.manual_seed(3)
    outputs, targets = torch.randn(*lead, 7, 3) * 3, torch.randint(0, 3, (*lead, 7))
    # every hinge margin 1 − s_c·out_c of this sample exactly 0: the kink, where autograd's subgradient is 0
    outputs[0, ..., 0, :] = torch.tensor([1.0, -1.0, -1.0])
    targets[0, ..., 0] = 0
    margins = 1.0 - torch.tensor([1.0, -1.0, -1.0]) * outputs[0, ..., 0, :]
    assert torch.all(margins == 0)
    names = ["hinge", "nll", "nll", "hinge"]
    member_losses = MemberLosses(names)
    each = [float(get_loss(name)(outputs[m].reshape(-1, 3), targets[m].reshape(-1))) for m, name in enumerate(names)]
    if len(lead) == 1:
        assert member_losses.each(outputs, targets) == each
    losses, delta = member_losses.output_delta(outputs, targets)
    assert losses.shape == lead and delta.shape == outputs.shape
    # the reference: autograd through each member's own loss function, one mini-batch at a time
    reference = outputs.detach().clone().requires_grad_(True)
    expected = torch.stack([torch.stack([get_loss(name)(reference[m][k], targets[m][k])
                                         for k in range(reference[m].shape[0])]) if len(lead) == 2
                            else get_loss(name)(reference[m], targets[m]) for m, name in enumerate(names)])
    expected.sum().backward()
    torch.testing.assert_close(losses, expected.detach(), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(delta, reference.grad, rtol=1e-6, atol=1e-8)
    for name in ("nll", "hinge"):  # one loss for all members: the single-group path
        losses, delta = MemberLosses([name] * 4).output_delta(outputs, targets)
        reference.grad = None
        value = sum(get_loss(name)(reference[m].reshape(-1, 3), targets[m].reshape(-1)) for m in range(4))
        (value * (1 if len(lead) == 1 else lead[1])).backward()
        torch.testing.assert_close(delta, reference.grad, rtol=1e-6, atol=1e-8)


def test_bad_bundles_are_refused(tmp_path):
    data = synthetic_data()
    with pytest.raises(ValueError, match="'model' differs"):
        check_bundle([spec(), spec(run_id="b", model={"model": "fcn", "depth": 3, "width": 16})])
    with pytest.raises(ValueError, match="'batch_size' differs"):
        check_bundle([spec(), spec(run_id="b", batch_size=10)])
    with pytest.raises(ValueError, match="fcn"):
        check_bundle([spec(model={"model": "alexnet", "scale": 4})])
    with pytest.raises(ValueError, match="repeat a run id"):
        check_bundle([spec(), spec(seed=3)])
    with pytest.raises(TypeError, match="RunSpec"):
        check_bundle([spec().to_dict()])
    with pytest.raises(ValueError, match="lacks key"):
        train_bundle([spec()], data, [dict(noise=tmp_path / "n.h5", metrics=tmp_path / "m.csv")])
    with pytest.raises(ValueError, match="batch_size=500"):
        train_bundle([spec(batch_size=500)], data, output_paths(tmp_path, 1))
    assert bundle_key(spec()) == bundle_key(spec(run_id="x", seed=3, lr=0.5, loss="hinge"))
    # every RunSpec field is either shared by a bundle or implemented per member (fails when a field is added)
    assert {f.name for f in dataclasses.fields(RunSpec)} == set(SHARED_FIELDS) | set(VARYING_FIELDS)
    assert bundle_key(spec()) != bundle_key(spec(iterations=7))


def test_choose_bundle_size_from_free_memory():
    s = spec(model={"model": "fcn", "depth": 3, "width": 64}, batch_size=100, max_coords=None, random_minibatches=0)
    per_member = member_memory_bytes(s, 784, 10, 4000)
    n_params = 784 * 64 + 64 * 64 + 64 * 10
    assert per_member >= 4 * (40 * n_params + 3 * n_params)  # at least the 40 noise rows, weights, grads, update
    assert choose_bundle_size(s, 784, 10, 4000, "cpu", free_bytes=int(40.5 * per_member)) == 10  # a quarter of RAM
    assert choose_bundle_size(s, 784, 10, 4000, "cuda", free_bytes=int(10.1 * per_member)) == 8  # 0.8 of the GPU
    assert choose_bundle_size(s, 784, 10, 4000, "cpu", free_bytes=0) == 1
    assert choose_bundle_size(s, 784, 10, 4000, "cpu", free_bytes=10**15, limit=16) == 16
    with pytest.raises(ValueError, match="limit"):
        choose_bundle_size(s, 784, 10, 4000, "cpu", free_bytes=10, limit=0)


def test_auto_bundle_size_reads_free_device_memory_and_splits_the_bundle(tmp_path, monkeypatch):
    import sgnoise.training.bundle.loop
    import sgnoise.training.bundle.plan

    s = spec(model={"model": "fcn", "depth": 3, "width": 64}, batch_size=100, max_coords=None, random_minibatches=0)
    per_member = member_memory_bytes(s, 784, 10, 4000)
    # CUDA: torch.cuda.mem_get_info's free bytes (no GPU needed: the call is replaced)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (int(5.1 * per_member), 80 * 2**30))
    assert sgnoise.training.bundle.available_memory_bytes("cuda") == int(5.1 * per_member)
    assert choose_bundle_size(s, 784, 10, 4000, "cuda") == 4  # ⌊0.8 · 5.1⌋
    # train_bundle(max_members=None) trains in sub-bundles of what fits: here 2 of the 4 members at a time
    data, specs = synthetic_data(), member_specs(iterations=12, checkpoints=[0, 12])
    member = member_memory_bytes(specs[0], 12, 3, 120)
    monkeypatch.setattr(sgnoise.training.bundle.plan, "available_memory_bytes", lambda device: int(2.5 / 0.25 * member))
    sizes = []
    together = sgnoise.training.bundle.loop._train_together
    monkeypatch.setattr(sgnoise.training.bundle.loop, "_train_together", lambda specs, *a: sizes.append(len(specs)) or together(specs, *a))
    auto, pairs = output_paths(tmp_path / "auto", 4), output_paths(tmp_path / "pairs", 4)
    train_bundle(specs, data, auto)
    assert sizes == [2, 2]
    train_bundle(specs, data, pairs, max_members=2)
    for a, b in zip(auto, pairs):
        assert a["metrics"].read_bytes() == b["metrics"].read_bytes()
        with NoiseDump(a["noise"]) as da, NoiseDump(b["noise"]) as db:
            assert np.array_equal(da.noise_array(12), db.noise_array(12))
