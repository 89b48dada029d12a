"""Plain SGD training of one run with metrics and noise dumps at log-spaced checkpoints.

Mini-batches are drawn without replacement and reshuffled every epoch from a generator
seeded by the run's seed (the reference code instead cycles in a fixed order). The step
size is multiplied by ``lr_factor`` at each fraction of the run listed in ``lr_milestones``.
A checkpoint at iteration t is taken after t SGD steps (t = 0 is the initialisation).
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from sgnoise import __version__
from sgnoise.atomic import write_csv_atomic, write_text_atomic
from sgnoise.losses import get_loss
from sgnoise.models import build_model, parameter_layout
from sgnoise.noise import gradient_noise, random_minibatch_noise, select_columns
from sgnoise.store import NoiseDumpWriter

METRIC_COLUMNS = ["iteration", "step_size", "train_loss", "train_accuracy", "test_loss", "test_accuracy"]


def checkpoint_schedule(iterations: int, count: int | None = None, explicit=None) -> list[int]:
    """Checkpoint iterations: an explicit list, or ``count`` log-spaced points from 1 to ``iterations``,
    always including 0 and ``iterations``."""
    if explicit:
        bad = [i for i in explicit if not 0 <= i <= iterations]
        if bad:
            raise ValueError(f"train.checkpoints.iterations {bad} outside [0, {iterations}]")
        points = set(int(i) for i in explicit)
    else:
        if count is None or count < 2:
            raise ValueError(f"train.checkpoints.count must be >= 2, got {count}")
        points = set(np.unique(np.rint(np.geomspace(1, max(iterations, 1), count - 1)).astype(int)).tolist())
    return sorted(points | {0, iterations})


def learning_rate(base_lr: float, iteration: int, iterations: int, milestones, factor: float) -> float:
    """η·factor^m with m the number of milestone fractions (of ``iterations``) already reached."""
    passed = sum(iteration >= math.ceil(fraction * iterations) for fraction in milestones)
    return base_lr * factor**passed


@torch.no_grad()
def evaluate(model, loss_fn, inputs, targets, chunk=1000) -> tuple[float, float]:
    """Mean loss and accuracy over a whole set (eval mode), computed in chunks."""
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    for start in range(0, len(inputs), chunk):
        out = model(inputs[start:start + chunk])
        target = targets[start:start + chunk]
        total_loss += float(loss_fn(out, target)) * len(target)
        correct += int((out.argmax(dim=1) == target).sum())
    model.train(was_training)
    return total_loss / len(inputs), correct / len(inputs)


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@dataclass
class RunSpec:
    """One run: the config values that change its result (see the run id in rules/common.smk)."""

    run_id: str
    dataset: str
    model: dict
    loss: str
    batch_size: int
    lr: float
    iterations: int
    seed: int
    lr_milestones: list = field(default_factory=list)
    lr_factor: float = 0.5
    checkpoints: list = field(default_factory=list)
    max_coords: int | None = None
    noise_seed: int = 0
    random_minibatches: int = 0
    on_divergence: str = "record"

    @classmethod
    def from_dict(cls, values: dict) -> "RunSpec":
        return cls(**values)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def train_run(spec: RunSpec, data: dict, noise_path, metrics_path, status_path, device="cpu") -> dict:
    """Train ``spec`` on ``data`` (from :func:`sgnoise.data.load_prepared`), writing the noise dump,
    metrics and a status file. Returns the status dict."""
    generator = seed_everything(spec.seed)
    train_x, train_y = data["train_x"].to(device), data["train_y"].to(device)
    test_x, test_y = data["test_x"].to(device), data["test_y"].to(device)
    n = len(train_x)
    if not 1 <= spec.batch_size <= n:
        raise ValueError(f"batch_size={spec.batch_size} must be in [1, {n}] (training set size of {spec.dataset})")
    model = build_model(spec.model, tuple(train_x.shape[1:]), data["num_classes"]).to(device)
    loss_fn = get_loss(spec.loss)
    layout = parameter_layout(model)
    n_params = sum(size for _, _, size in layout)
    columns = select_columns(n_params, spec.max_coords, spec.noise_seed)
    columns_t = torch.from_numpy(columns).to(device)
    noise_generator = torch.Generator().manual_seed(spec.noise_seed + 1)
    checkpoints = set(spec.checkpoints)
    batches_per_epoch = n // spec.batch_size
    writer = NoiseDumpWriter(noise_path, columns=columns, layers=layout, attrs=dict(
        run_id=spec.run_id, config=spec.to_dict(), n_params=n_params, batch_size=spec.batch_size,
        n_minibatches=batches_per_epoch, n_random_minibatches=spec.random_minibatches))
    rows, status = [], {"status": "ok", "diverged_at": None, "iterations_done": 0}
    order = None
    try:
        for iteration in range(spec.iterations + 1):
            lr = learning_rate(spec.lr, iteration, spec.iterations, spec.lr_milestones, spec.lr_factor)
            if iteration in checkpoints:
                train_loss, train_acc = evaluate(model, loss_fn, train_x, train_y)
                test_loss, test_acc = evaluate(model, loss_fn, test_x, test_y)
                row = dict(iteration=iteration, step_size=lr, train_loss=train_loss, train_accuracy=train_acc,
                           test_loss=test_loss, test_accuracy=test_acc)
                if not (math.isfinite(train_loss) and math.isfinite(test_loss)):
                    status.update(status="diverged", diverged_at=iteration)
                    rows.append(row)
                    break
                noise, full_gradient = gradient_noise(model, loss_fn, train_x, train_y, spec.batch_size)
                noise_random = None
                if spec.random_minibatches:
                    noise_random = random_minibatch_noise(model, loss_fn, train_x, train_y, spec.batch_size,
                                                          spec.random_minibatches, full_gradient, noise_generator)
                    noise_random = noise_random[:, columns_t].cpu().numpy()
                row["full_gradient_norm"] = float(full_gradient.norm())
                writer.add_checkpoint(iteration, noise[:, columns_t].cpu().numpy(),
                                      full_gradient[columns_t].cpu().numpy(), row, noise_random=noise_random)
                rows.append(row)
            if iteration == spec.iterations:
                break
            position = iteration % batches_per_epoch
            if position == 0:
                order = torch.randperm(n, generator=generator).to(device)
            index = order[position * spec.batch_size:(position + 1) * spec.batch_size]
            model.zero_grad(set_to_none=True)
            loss = loss_fn(model(train_x[index]), train_y[index])
            if not torch.isfinite(loss):
                status.update(status="diverged", diverged_at=iteration)
                rows.append(dict(iteration=iteration, step_size=lr, train_loss=float(loss)))
                break
            loss.backward()
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(p.grad, alpha=-lr)
            status["iterations_done"] = iteration + 1
        if status["status"] == "diverged" and spec.on_divergence == "fail":
            raise FloatingPointError(f"run {spec.run_id} diverged at iteration {status['diverged_at']} (loss is not finite); "
                                     "lower the learning rate or set train.on_divergence: record")
        writer._file.attrs["status"] = status["status"]
        writer.close(complete=True)
    except BaseException:
        writer.abort()
        raise
    metrics = pd.DataFrame(rows)
    for column in METRIC_COLUMNS:
        if column not in metrics:
            metrics[column] = np.nan
    write_csv_atomic(metrics, metrics_path)
    status["sgnoise_version"] = __version__
    write_text_atomic(status_path, json.dumps(status, indent=2) + "\n")
    return status
