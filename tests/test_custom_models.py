"""User models (model: {kind: custom, factory: ...}) and datasets (dataset: {kind: npz, path: ...}), and Adam:
a model and a dataset defined in the test suite (tests/custom_models.py) trained end to end, a clear
error for each bad input, and the workflow refusing a bad one before any job."""

import os

import numpy as np
import pytest
import torch

from custom_models import write_npz_dataset
from sgnoise.data import load_prepared, npz_dataset_info
from sgnoise.models import CustomModelError, build_model, check_model, load_factory, parameter_types
from sgnoise.noise.measure import gradient_noise
from sgnoise.study.naming import bundle_supported, custom_model_tag, optimizer_tag
from sgnoise.training import RunSpec, make_optimizer, train_run
from workflow import REPO, snakemake, write_config

TINY_CNN = {"model": "custom", "factory": "custom_models:tiny_cnn", "kwargs": {"channels": 3}}
ADAM = {"name": "adam", "betas": [0.9, 0.99]}


def _spec(tmp_path, **changes):
    values = dict(run_id="mine/custom-tiny_cnn-channels3/nll/b20-lr0.01-it30/s0", dataset="mine", model=TINY_CNN,
                  loss="nll", batch_size=20, lr=0.05, iterations=30, seed=0, lr_milestones=[0.5], checkpoints=[0, 30],
                  max_coords=None, dataset_path=str(tmp_path / "mine.npz"))
    values.update(changes)
    return RunSpec(**values)


def test_custom_model_on_an_npz_dataset_trains_and_learns(tmp_path):
    path = write_npz_dataset(tmp_path / "mine.npz")
    info = npz_dataset_info(path, "mine")
    assert (info.input_shape, info.num_classes, info.n_train, info.n_test, info.source) == ((1, 8, 8), 4, 200, 40, "npz")
    data = load_prepared(path)
    status = train_run(_spec(tmp_path, iterations=60, checkpoints=[0, 60]), data, tmp_path / "noise.h5",
                       tmp_path / "metrics.csv", tmp_path / "status.json", progress_interval_s=None)
    assert status["status"] == "ok" and status["learned"] and status["final_train_accuracy"] > 0.6
    assert status["chance_accuracy"] == 0.25


def test_custom_model_factory_gets_shape_classes_and_kwargs():
    model = build_model(TINY_CNN, (3, 8, 8), 5)
    assert model(torch.zeros(2, 3, 8, 8)).shape == (2, 5) and model[0].out_channels == 3
    check_model(TINY_CNN, (3, 8, 8), 5)
    assert set(parameter_types(model).values()) == {"convolution", "normalisation", "mlp"}


def test_noise_pass_runs_a_custom_models_batch_norm_in_eval_mode():
    torch.manual_seed(0)
    model = build_model(TINY_CNN, (1, 8, 8), 4)
    model.train()
    x, y = torch.randn(40, 1, 8, 8), torch.randint(0, 4, (40,))
    noise, full = gradient_noise(model, torch.nn.functional.cross_entropy, x, y, 10)
    assert model.training  # restored afterwards
    model.eval()  # the mini-batch gradients with batch norm on its running statistics
    grads = torch.stack([torch.cat([g.flatten() for g in torch.autograd.grad(
        torch.nn.functional.cross_entropy(model(x[i:i + 10]), y[i:i + 10]), list(model.parameters()))])
        for i in range(0, 40, 10)])
    assert torch.allclose(full, grads.mean(0), atol=1e-6) and torch.allclose(noise, grads - full, atol=1e-6)


@pytest.mark.parametrize("factory, message", [
    ("no_such_module_xyz:net", "cannot import module 'no_such_module_xyz'"),
    ("custom_models:missing", "module 'custom_models' has no 'missing'"),
    ("custom_models:NOT_CALLABLE", "is not callable (a int)"),
    ("custom_models:no_module", "returned a str, not a torch.nn.Module"),
    ("custom_models:wrong_classes", "gives outputs of shape (2, 5) for 2 inputs; expected (2, 4)"),
    ("custom_models", "must be written 'package.module:function'"),
])
def test_bad_custom_models_are_named_clearly(factory, message):
    with pytest.raises(CustomModelError) as error:
        check_model({"model": "custom", "factory": factory, "kwargs": {}}, (1, 8, 8), 4)
    assert message in str(error.value)


def test_a_factory_that_rejects_its_kwargs_is_named():
    with pytest.raises(CustomModelError, match="tiny_cnn.*failed.*unexpected keyword argument 'depth'"):
        check_model(dict(TINY_CNN, kwargs={"depth": 3}), (1, 8, 8), 4)


def test_load_factory_finds_modules_in_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "my_local_net.py").write_text("def net(shape, classes):\n    return None\n")
    monkeypatch.chdir(tmp_path)
    assert load_factory("my_local_net:net").__name__ == "net"


@pytest.mark.parametrize("replace, message", [
    (dict(test_labels=None), "lacks ['test_labels']"),
    (dict(train_images=np.zeros((200, 8, 8), np.uint8)), "train_images must be a non-empty uint8 array (N, C, H, W)"),
    (dict(test_images=np.zeros((40, 1, 8, 8), np.float32)), "test_images must be a non-empty uint8 array"),
    (dict(test_images=np.zeros((40, 1, 9, 9), np.uint8)), "train images are (1, 8, 8), test images (1, 9, 9)"),
    (dict(train_labels=np.zeros(199, np.int64)), "train_labels must be 200 integers (one per image)"),
    (dict(train_labels=np.full(200, 0.5)), "train_labels must be 200 integers"),
    (dict(test_labels=np.full(40, 7)), "labels must lie in [0, num_classes = 4)"),
    (dict(std=np.zeros(1)), "std must hold one finite positive value per channel (1)"),
    (dict(mean=np.zeros(3)), "mean must hold one finite value per channel (1)"),
])
def test_malformed_npz_datasets_are_named_clearly(tmp_path, replace, message):
    path = write_npz_dataset(tmp_path / "bad.npz", **replace)
    with pytest.raises(ValueError) as error:
        npz_dataset_info(path, "bad")
    assert message in str(error.value) and str(path) in str(error.value)


def test_missing_or_unreadable_npz_and_builtin_names(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        npz_dataset_info(tmp_path / "none.npz", "none")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="is not a readable .npz archive"):
        npz_dataset_info(tmp_path / "junk.npz", "junk")
    with pytest.raises(ValueError, match="name of a built-in dataset"):
        npz_dataset_info(write_npz_dataset(tmp_path / "ok.npz"), "mnist5k")


def test_custom_run_ids_and_optimizer_tags():
    assert custom_model_tag(TINY_CNN) == "custom-tiny_cnn-channels3"
    assert custom_model_tag(dict(TINY_CNN, name="mine", kwargs={"a": 0.5, "b": "x/y"})) == "custom-mine-a0.5-bx_y"
    nested = custom_model_tag(dict(TINY_CNN, kwargs={"sizes": [4, 8]}))
    assert nested.startswith("custom-tiny_cnn-h") and len(nested) == len("custom-tiny_cnn-h") + 8
    assert optimizer_tag(None) == optimizer_tag({"name": "sgd"}) == ""
    assert optimizer_tag(ADAM) == "-adam0.9-0.99"
    assert bundle_supported({"model": "fcn", "depth": 2, "width": 4})
    assert not bundle_supported({"model": "fcn", "depth": 2, "width": 4}, ADAM)


def test_adam_run_learns_and_resumes_bit_identically(tmp_path):
    """Adam's moment estimates are part of the resumable state: a run stopped after its first
    checkpoint and resumed ends with the same noise and metrics as one run straight through."""
    path = write_npz_dataset(tmp_path / "mine.npz")
    data = load_prepared(path)
    spec = _spec(tmp_path, lr=0.01, optimizer=ADAM, iterations=40, checkpoints=[0, 20, 40])
    assert isinstance(make_optimizer(spec, build_model(TINY_CNN, (1, 8, 8), 4)), torch.optim.Adam)
    straight = train_run(spec, data, tmp_path / "a.h5", tmp_path / "a.csv", tmp_path / "a.json", progress_interval_s=None)
    assert straight["learned"]

    from sgnoise.training import single as train_module

    calls = {"n": 0}
    original = train_module.measure_noise

    def stop_at_second_checkpoint(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    state = tmp_path / "state"
    train_module.measure_noise = stop_at_second_checkpoint
    try:
        with pytest.raises(KeyboardInterrupt):
            train_run(spec, data, tmp_path / "b.h5", tmp_path / "b.csv", tmp_path / "b.json", state_root=state,
                      progress_interval_s=None)
    finally:
        train_module.measure_noise = original
    train_run(spec, data, tmp_path / "b.h5", tmp_path / "b.csv", tmp_path / "b.json", state_root=state,
              progress_interval_s=None)
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    sgd = train_run(_spec(tmp_path, lr=0.01, iterations=40, checkpoints=[0, 20, 40]), data, tmp_path / "c.h5",
                    tmp_path / "c.csv", tmp_path / "c.json", progress_interval_s=None)
    assert sgd["status"] == "ok" and (tmp_path / "c.csv").read_text() != (tmp_path / "a.csv").read_text()


# ---------------------------------------------------------------- the workflow: run ids, errors before any job

def _grid(**changes):
    grid = dict(dataset="mnist5k", model="fcn", depth=2, width=4, loss="nll", batch_size=20, lr=0.01, iterations=4)
    grid.update(changes)
    return {key: value for key, value in grid.items() if value is not None}


def _env():
    return {"PYTHONPATH": os.pathsep.join([str(REPO / "tests"), str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}


@pytest.mark.workflow
def test_dry_run_names_custom_npz_adam_resnet_vit_runs(tmp_path):
    write_npz_dataset(tmp_path / "mine.npz")
    custom = {"kind": "custom", "factory": "custom_models:tiny_cnn", "kwargs": {"channels": 3}}
    config = write_config(tmp_path / "c.yaml", runs=[
        _grid(dataset={"kind": "npz", "path": "mine.npz"}, model=custom, depth=None, width=None,
              optimizer=["sgd", "adam"], betas=[0.9, 0.99], checkpoints=2, random_minibatches=0),
        _grid(model="resnet", depth=8, width=4, batch_norm=[True, False]),
        _grid(model="vit", depth=1, width=8, heads=2, patch=7)])
    result = snakemake(tmp_path, "-n", configfile=config, env=_env())
    planned = result.stdout + result.stderr
    for run in ["mine/custom-tiny_cnn-channels3/nll/b20-lr0.01-it4/s0",
                "mine/custom-tiny_cnn-channels3/nll/b20-lr0.01-adam0.9-0.99-it4/s0",
                "mnist5k/resnet8-w4-bn/nll/b20-lr0.01-it4/s0", "mnist5k/resnet8-w4/nll/b20-lr0.01-it4/s0",
                "mnist5k/vit-d1-w8-h2-p7/nll/b20-lr0.01-it4/s0"]:
        assert f"results/runs/{run}/noise.h5" in planned, run
    assert not (tmp_path / "results").exists()


@pytest.mark.workflow
@pytest.mark.parametrize("change, expected", [
    (dict(model={"kind": "custom", "factory": "custom_models:wrong_classes"}, depth=None, width=None),
     "config runs[0].model: model 'custom_models:wrong_classes' gives outputs of shape (2, 11)"),
    (dict(dataset={"kind": "npz", "path": "missing.npz"}), "config runs[0].dataset: npz dataset missing.npz does not exist"),
    (dict(model="vit", depth=1, width=8, heads=3, patch=7), "ViT heads (3) must divide the width (8)"),
])
def test_bad_user_model_or_dataset_stops_before_any_job(tmp_path, change, expected):
    config = write_config(tmp_path / "bad.yaml", runs=[_grid(**change)])
    result = snakemake(tmp_path, "--cores", "1", configfile=config, check=False, env=_env())
    assert result.returncode != 0
    assert expected in result.stdout + result.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "resources").exists()


def test_study_tables_and_families_of_custom_npz_and_adam_runs(tmp_path):
    import json

    import pandas as pd

    from sgnoise.figures.style import family_label
    from sgnoise.aggregate import learned_flags, runs_table

    common = dict(loss="nll", batch_size=20, lr=0.01, iterations=4, seed=0)
    runs = {"mine/custom-tiny_cnn-channels3/nll/b20-lr0.01-it4/s0": dict(common, dataset="mine", model=TINY_CNN,
                                                                          dataset_path="mine.npz"),
            "mnist5k/vit-d1-w8-h2-p7/nll/b20-lr0.01-adam0.9-0.99-it4/s0": dict(
                common, dataset="mnist5k", model={"model": "vit", "depth": 1, "width": 8, "heads": 2, "patch": 7},
                optimizer=ADAM)}
    paths = []
    for run in runs:
        path = tmp_path / "results/runs" / run / "status.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"status": "ok", "chance_accuracy": 0.25}))
        paths.append(path)
    table = runs_table(runs, paths)
    assert table["kwargs"].iloc[0] == '{"channels": 3}' and table["optimizer"].tolist()[1] == "adam"
    assert list(family_label(table)) == ["custom", "vit adam"]
    metrics = pd.DataFrame(dict(run=list(runs), iteration=[4, 4], train_accuracy=[0.9, 0.05]))
    flags = learned_flags(metrics, table, 0.05)
    assert flags["chance_accuracy"].tolist() == [0.25, 0.1]  # the npz dataset's from its run, mnist5k's 1/10
    assert flags["learned"].tolist() == [True, False]
    # α over iterations draws the custom run (no width or scale) too, in black
    from sgnoise.figures import training
    from sgnoise.aggregate import with_learned_flags

    runs_frame = with_learned_flags(table, flags)
    alpha = pd.DataFrame([dict(run=run, iteration=it, method="mohammadi", view="pooled", alpha=a)
                          for run in runs for it, a in ((0, 1.9), (4, 1.5))]).merge(runs_frame, on="run")
    fig = training.alpha_over_iterations(alpha, metrics.merge(runs_frame, on="run").assign(test_accuracy=0.5), runs_frame)
    black = [line for ax in fig.axes for line in ax.get_lines() if line.get_color() == "black" and line.get_marker() == "o"]
    assert len(black) == 1 and list(black[0].get_ydata()) == [1.9, 1.5]
    assert any(text.get_text() == "no size (custom)" for legend in fig.legends for text in legend.get_texts())
