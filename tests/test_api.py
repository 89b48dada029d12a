"""sgnoise.api: the α table of a user's own torch model, its inputs checked before any work. (That it
equals the workflow's alpha.csv for the same run: tests/test_workflow.py.)"""

import numpy as np
import pytest
import torch

from sgnoise import api
from sgnoise.tail import COLUMNS, alpha_table


def _data(n=240, features=12, classes=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=generator)
    y = (x[:, :classes].argmax(1)).to(torch.int64)
    return x, y


def _model(features=12, classes=3, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(features, 16), torch.nn.ReLU(), torch.nn.Linear(16, classes))


ALPHA = {"methods": ["mohammadi", "hill"], "null_columns": 50}


def test_measure_returns_the_alpha_table_of_the_current_weights_and_leaves_them():
    model, (x, y) = _model(), _data()
    before = [p.detach().clone() for p in model.parameters()]
    table = api.measure(model, "nll", (x, y), batch_size=20, alpha=ALPHA, max_coords=None)
    assert list(table.columns[: len(COLUMNS)]) == COLUMNS
    assert set(table["iteration"]) == {0} and set(table["method"]) == {"mohammadi", "hill"}
    pooled = table[(table["view"] == "pooled") & (table["method"] == "mohammadi")]
    n_params = sum(p.numel() for p in model.parameters())
    assert len(pooled) == 1 and 0 < pooled["N"].iloc[0] <= 12 * n_params  # K = 240 / 20 mini-batches
    assert np.isfinite(pooled["alpha"].iloc[0])
    for old, new in zip(before, model.parameters()):
        assert torch.equal(old, new)


def test_train_and_measure_trains_in_place_and_keeps_its_files(tmp_path):
    model, data = _model(), _data()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(*data), batch_size=64)
    result = api.train_and_measure(model, "hinge", loader, batch_size=20, lr=0.2, iterations=60, checkpoints=3,
                                   alpha=ALPHA, out_dir=tmp_path, name="mlp", progress=False)
    assert sorted(result.metrics["iteration"]) == sorted(set(result.alpha["iteration"])) and 60 in set(result.metrics["iteration"])
    assert result.metrics["train_accuracy"].iloc[-1] > result.metrics["train_accuracy"].iloc[0]
    assert result.status["status"] == "ok" and result.noise_path == tmp_path / "noise.h5" and result.noise_path.exists()
    again = alpha_table(result.noise_path, **api.alpha_options(ALPHA))
    np.testing.assert_allclose(again["alpha"], result.alpha["alpha"])


def test_measure_is_reproducible():
    first = api.measure(_model(), "nll", _data(), batch_size=20, alpha=ALPHA)
    second = api.measure(_model(), "nll", _data(), batch_size=20, alpha=ALPHA)
    np.testing.assert_array_equal(first["alpha"].to_numpy(), second["alpha"].to_numpy())


@pytest.mark.parametrize("change, error, match", [
    (dict(loss="mse"), ValueError, "loss must be one of nll, hinge"),
    (dict(model=_model(classes=4)), ValueError, r"expected \(2, 3\)"),
    (dict(data=(torch.randn(10, 12), torch.randn(10))), TypeError, "integer tensor of class indices"),
    (dict(data=(torch.randn(10, 12), torch.zeros(9, dtype=torch.int64))), ValueError, "10 inputs and 9 targets"),
    (dict(data="not data"), TypeError, "DataLoader"),
    (dict(model="not a model"), TypeError, "torch.nn.Module"),
    (dict(alpha={"methods": ["hil"]}), ValueError, "hil"),
    (dict(alpha={"zeros": 3}), ValueError, "zeros"),
    (dict(name="a b"), ValueError, "name 'a b'"),
])
def test_bad_input_is_named_before_any_work(change, error, match, tmp_path):
    arguments = dict(model=_model(), loss="nll", data=_data(), batch_size=20, alpha=ALPHA, out_dir=tmp_path)
    arguments.update(change)
    with pytest.raises(error, match=match):
        api.measure(**arguments)
    assert not list(tmp_path.iterdir())  # nothing written


def test_the_readme_example_runs():
    """The README's Python API example, as written (after the api-example marker)."""
    import subprocess
    import sys
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = text.split("<!-- api-example -->", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    result = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "train_accuracy" in result.stdout and "per_parameter" in result.stdout
