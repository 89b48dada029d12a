import json

import numpy as np
import pandas as pd
import pytest
import torch

from sgnoise.noise.dump import NoiseDump
from sgnoise.study.schedule import checkpoint_schedule, learning_rate
from sgnoise.training import RunSpec, train_run


def test_checkpoint_schedule_log_spaced_with_ends():
    points = checkpoint_schedule(1000, count=8)
    assert points[0] == 0 and points[-1] == 1000 and points == sorted(set(points))
    ratios = np.diff(np.log(points[1:]))
    assert np.allclose(ratios, ratios[0], atol=0.15)  # log-spaced between 1 and 1000
    assert checkpoint_schedule(50, explicit=[10, 20]) == [0, 10, 20, 50]
    with pytest.raises(ValueError, match="outside"):
        checkpoint_schedule(50, explicit=[60])
    with pytest.raises(ValueError, match="count"):
        checkpoint_schedule(50, count=1)


def test_learning_rate_halves_at_thirds():
    lrs = [learning_rate(0.1, i, 90, [1 / 3, 2 / 3], 0.5) for i in (0, 29, 30, 59, 60, 89)]
    assert lrs == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025])


def synthetic_data(n=120, d=10, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 1, d, generator=g)
    y = (x.flatten(1)[:, :classes].argmax(1)).long()
    return dict(train_x=x[:100], train_y=y[:100], test_x=x[100:], test_y=y[100:], num_classes=classes)


def spec(**changes):
    values = dict(run_id="toy/fcn-d3-w8/nll/b20-lr0.1-it30/s0", dataset="toy", model={"model": "fcn", "depth": 3, "width": 8},
                  loss="nll", batch_size=20, lr=0.1, iterations=30, seed=0, checkpoints=[0, 3, 10, 30], max_coords=50)
    values.update(changes)
    return RunSpec(**values)


def run(tmp_path, name, **changes):
    out = tmp_path / name
    status = train_run(spec(**changes), synthetic_data(), out / "noise.h5", out / "metrics.csv", out / "status.json")
    return out, status


def test_train_run_outputs(tmp_path):
    out, status = run(tmp_path, "a")
    assert status["status"] == "ok" and status["iterations_done"] == 30
    metrics = pd.read_csv(out / "metrics.csv")
    assert metrics["iteration"].tolist() == [0, 3, 10, 30]
    assert metrics["train_loss"].iloc[-1] < metrics["train_loss"].iloc[0]
    with NoiseDump(out / "noise.h5") as dump:
        assert dump.iterations == [0, 3, 10, 30]
        noise = dump.noise_array(10)
        assert noise.shape == (5, 50)  # 100 // 20 mini-batches, 50 stored coordinates
        np.testing.assert_allclose(noise.mean(0), 0, atol=1e-6)
        assert dump.attrs["n_params"] == 10 * 8 + 8 * 8 + 8 * 3
        assert dump.attrs["config"]["seed"] == 0
    assert sorted(p.name for p in out.iterdir()) == ["metrics.csv", "noise.h5", "status.json"]


def test_same_seed_identical_other_seed_differs(tmp_path):
    a, _ = run(tmp_path, "a")
    b, _ = run(tmp_path, "b")
    c, _ = run(tmp_path, "c", seed=1)
    assert (a / "metrics.csv").read_bytes() == (b / "metrics.csv").read_bytes()
    with NoiseDump(a / "noise.h5") as da, NoiseDump(b / "noise.h5") as db, NoiseDump(c / "noise.h5") as dc:
        for it in da.iterations:
            assert np.array_equal(da.noise_array(it), db.noise_array(it))
        assert not np.array_equal(da.noise_array(30), dc.noise_array(30))


def test_random_minibatches_stored(tmp_path):
    out, _ = run(tmp_path, "r", random_minibatches=7)
    with NoiseDump(out / "noise.h5") as dump:
        assert dump.noise_random(3).shape == (7, 50)


def test_divergence_is_recorded(tmp_path):
    out, status = run(tmp_path, "d", lr=1e5, loss="hinge")
    assert status["status"] == "diverged" and status["diverged_at"] is not None
    assert json.loads((out / "status.json").read_text())["status"] == "diverged"
    with NoiseDump(out / "noise.h5") as dump:
        assert dump.attrs["status"] == "diverged"
        assert max(dump.iterations) <= status["diverged_at"]


def test_divergence_can_fail_and_leaves_nothing(tmp_path):
    with pytest.raises(FloatingPointError, match="diverged"):
        run(tmp_path, "f", lr=1e5, loss="hinge", on_divergence="fail")
    assert not (tmp_path / "f").exists() or list((tmp_path / "f").iterdir()) == []


def test_status_flags_a_run_that_did_not_learn(tmp_path):
    """A learning rate of 1e-7 leaves the accuracy where the initialisation put it: not learned; the
    default one learns. (Three classes: chance 1/3, margin 0.05.)"""
    from sgnoise.training import learned_status
    _, frozen = run(tmp_path, "frozen", lr=1e-7, iterations=60, checkpoints=[0, 60])
    _, trained = run(tmp_path, "trained", lr=0.5, iterations=60, checkpoints=[0, 60])
    status = json.loads((tmp_path / "frozen" / "status.json").read_text())
    assert status["learned"] is False and status["chance_accuracy"] == pytest.approx(1 / 3)
    assert json.loads((tmp_path / "trained" / "status.json").read_text())["learned"] is True
    rows = [dict(train_accuracy=0.9)]
    assert learned_status(rows, {"status": "diverged"}, 10)["learned"] is False
    assert learned_status([dict(train_accuracy=0.14)], {"status": "ok"}, 10)["learned"] is False
    assert learned_status([dict(train_accuracy=0.16)], {"status": "ok"}, 10)["learned"] is True
