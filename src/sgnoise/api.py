"""Measure any model from Python: the gradient noise of a ``torch.nn.Module`` at its current weights,
or along an SGD (or Adam) run with checkpoints, as the α table the workflow writes (``alpha.csv``'s
columns, one row per checkpoint × view × estimator).

One code path with the workflow: :func:`train_and_measure` calls the workflow's own training and
noise pass (:func:`sgnoise.training.single.train_run`, which writes noise.h5, metrics and status exactly as
``rule train`` does) on the given model, then :func:`sgnoise.tail.alpha_table` with the ``alpha:``
config block validated against schemas/alpha.schema.yaml (the workflow's defaults unless given).
:func:`measure` is the same with no SGD step: the noise at the model's current weights.

    import torch, sgnoise.api as api
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    table = api.measure(net, "nll", (x, y), batch_size=100)              # α now, every view and estimator
    result = api.train_and_measure(net, "nll", (x, y), batch_size=100, lr=0.1, iterations=500, checkpoints=5)
    result.alpha, result.metrics                                           # the α trajectory, accuracies
"""

from __future__ import annotations

import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from sgnoise.models.losses import LOSSES
from sgnoise.study.schedule import checkpoint_schedule
from sgnoise.study import DEFAULT_K1_GRID, RunSpec
from sgnoise.study.config import alpha_table_options
from sgnoise.tail import run_alpha_tables
from sgnoise.training import train_run

ALPHA_SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "alpha.schema.yaml"
LR_MILESTONES = (0.3333333333, 0.6666666667)  # the workflow's train.lr_milestones: η × lr_factor at 1/3 and 2/3 of the run


@dataclass
class Measurement:
    """What :func:`train_and_measure` returns: the α table (``alpha.csv``'s columns plus ``run_status``),
    the metrics per checkpoint (iteration, step size, train/test loss and accuracy, ‖∇f‖), the run's
    status (ok or diverged, learned) and the paths of the noise dump, metrics and status files (None
    when no ``out_dir`` was given: the files were temporary)."""

    alpha: pd.DataFrame
    metrics: pd.DataFrame
    status: dict
    noise_path: Path | None
    metrics_path: Path | None
    status_path: Path | None


def alpha_options(alpha: dict | None = None) -> dict:
    """``alpha_table`` keyword arguments from an ``alpha:`` config block, validated against
    schemas/alpha.schema.yaml with its defaults filled in (so ``{}`` gives the workflow's defaults);
    a typo or wrong type raises naming the key."""
    import copy

    from snakemake.utils import validate

    if not ALPHA_SCHEMA.exists():
        raise FileNotFoundError(f"{ALPHA_SCHEMA} not found: sgnoise.api needs the source tree's schemas/ "
                                "(install with pip install -e . from a clone)")
    config = copy.deepcopy(alpha or {})
    try:
        validate(config, str(ALPHA_SCHEMA), set_default=True)
    except Exception as error:  # snakemake's WorkflowError names the failing key and value
        raise ValueError(f"alpha options: {error}") from None
    return alpha_table_options(config)


def _tensors(data, name: str):
    """(inputs, targets) from a pair of tensors or an iterable of (inputs, targets) batches (a DataLoader)."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        inputs, targets = data
    else:
        try:
            batches = list(data)
            inputs = torch.cat([torch.as_tensor(b[0]) for b in batches])
            targets = torch.cat([torch.as_tensor(b[1]) for b in batches])
        except (TypeError, IndexError, RuntimeError) as error:
            raise TypeError(f"{name} must be (inputs, targets) tensors or an iterable of (inputs, targets) batches "
                            f"such as a DataLoader ({error})") from None
    if len(inputs) != len(targets) or len(inputs) == 0:
        raise ValueError(f"{name}: {len(inputs)} inputs and {len(targets)} targets; need as many, at least one")
    if targets.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8) or targets.ndim != 1:
        raise TypeError(f"{name}: targets must be a 1-D integer tensor of class indices, got {targets.dtype} {tuple(targets.shape)}")
    return inputs.to(torch.float32), targets.to(torch.int64)


def _run_data(data, test_data, num_classes):
    train_x, train_y = _tensors(data, "data")
    test_x, test_y = _tensors(test_data, "test_data") if test_data is not None else (train_x, train_y)
    classes = int(num_classes) if num_classes is not None else int(max(train_y.max(), test_y.max())) + 1
    if int(train_y.min()) < 0 or int(train_y.max()) >= classes:
        raise ValueError(f"data: class indices must be in [0, {classes}), got {int(train_y.min())} … {int(train_y.max())}")
    return dict(train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y, num_classes=classes)


def _name(model, name):
    if name is None:
        name = type(model).__name__.lower()
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", str(name)):
        raise ValueError(f"name {name!r}: use letters, digits, '.', '_' or '-' (it names the run and its files)")
    return str(name)


def train_and_measure(model: torch.nn.Module, loss: str, data, batch_size: int, lr: float, iterations: int, *,
                      checkpoints=5, test_data=None, num_classes: int | None = None, seed: int = 0,
                      optimizer: str = "sgd", betas=(0.9, 0.999), lr_milestones=LR_MILESTONES, lr_factor: float = 0.5,
                      max_coords: int | None = 20_000, random_minibatches: int = 0, noise_seed: int = 0,
                      noise_test_set: bool = False,
                      pooled_k1_grid=DEFAULT_K1_GRID, pooled_zeros: str = "exclude", alpha: dict | None = None,
                      out_dir=None, name: str | None = None, device: str = "cpu", matrix_memory_mb: float = 1024.0,
                      progress: bool = True) -> Measurement:
    """Train ``model`` in place with SGD (or Adam) for ``iterations`` steps of ``batch_size`` on ``data``
    and measure the gradient noise at ``checkpoints`` (a count of log-spaced checkpoints, 0 and the
    last included, or a list of iterations), exactly as the workflow's ``rule train`` and ``rule alpha``
    do: the K = n / batch_size mini-batches of a partition (plus ``random_minibatches`` drawn ones),
    the paper's pooled estimate streamed over all P coordinates (also over the test set's partition
    with ``noise_test_set``), ``max_coords`` stored coordinates for the other views. ``loss``: "nll" (cross-entropy) or "hinge" (multi-class linear hinge).
    ``data`` / ``test_data``: (inputs, targets) tensors or a DataLoader (``test_data`` None: the
    training set is also the test set of the metrics). ``alpha``: the ``alpha:`` config block
    (estimators, views, K1 policy, intervals; default the workflow's). Files go to ``out_dir``
    (default: a temporary directory, removed at exit) as noise.h5, metrics.csv, status.json; one
    progress line per checkpoint on stderr unless ``progress`` is False."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer must be sgd or adam, got {optimizer!r}")
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    options = alpha_options(alpha)  # a bad alpha block fails before any work
    run_data = _run_data(data, test_data, num_classes)
    with torch.no_grad():
        probe = model.to(device).eval()(run_data["train_x"][:2].to(device))
    if probe.ndim != 2 or probe.shape[1] != run_data["num_classes"]:
        raise ValueError(f"model output has shape {tuple(probe.shape)} for 2 inputs; expected (2, {run_data['num_classes']}) "
                         "(one score per class)")
    schedule = (checkpoint_schedule(iterations, int(checkpoints)) if isinstance(checkpoints, int)
                else sorted({int(c) for c in checkpoints}))
    run = _name(model, name)
    spec = RunSpec(run_id=run, dataset="api", model={"model": "api", "class": type(model).__name__}, loss=loss,
                   batch_size=int(batch_size), lr=float(lr), iterations=int(iterations), seed=int(seed),
                   lr_milestones=list(lr_milestones), lr_factor=float(lr_factor), checkpoints=schedule,
                   max_coords=max_coords, noise_seed=int(noise_seed), random_minibatches=int(random_minibatches),
                   pooled_k1_grid=[int(k) for k in pooled_k1_grid], pooled_zeros=pooled_zeros,
                   noise_test_set=bool(noise_test_set),
                   optimizer=None if optimizer == "sgd" else {"name": "adam", "betas": list(betas)})
    if out_dir is None:
        holder = tempfile.TemporaryDirectory(prefix="sgnoise-")
        out = Path(holder.name)
    else:
        holder, out = None, Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
    paths = out / "noise.h5", out / "metrics.csv", out / "status.json"
    log = (lambda line: print(line, file=sys.stderr, flush=True)) if progress else None
    torch.manual_seed(seed)
    status = train_run(spec, run_data, *paths, device=device, log=log, matrix_memory_mb=matrix_memory_mb,
                       progress_interval_s=10.0 if progress else None, model=model)
    table = run_alpha_tables(paths[0], status, **options)[0]
    metrics = pd.read_csv(paths[1])
    if holder is not None:  # the files were temporary: gone with the directory
        holder.cleanup()
        paths = None, None, None
    return Measurement(table, metrics, status, *paths)


def measure(model: torch.nn.Module, loss: str, data, batch_size: int, **options) -> pd.DataFrame:
    """The α table of the gradient noise of ``model`` at its current weights (no SGD step; options
    as :func:`train_and_measure`: ``max_coords``, ``random_minibatches``, ``alpha``, ``out_dir`` to
    keep noise.h5, …). The model's weights are not changed."""
    for key in ("lr", "iterations", "checkpoints"):
        if key in options:
            raise TypeError(f"measure() takes no {key!r}: it measures the current weights (see train_and_measure)")
    return train_and_measure(model, loss, data, batch_size, lr=0.0, iterations=0, checkpoints=[0],
                             progress=options.pop("progress", False), **options).alpha
