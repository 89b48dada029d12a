"""SGD (plain, the default) or Adam training of one run with metrics and noise dumps at log-spaced checkpoints.

Mini-batches are drawn without replacement and reshuffled every epoch from a generator
seeded by the run's seed (the reference code instead cycles in a fixed order). The step
size is multiplied by ``lr_factor`` at each fraction of the run listed in ``lr_milestones``.
A checkpoint at iteration t is taken after t SGD steps (t = 0 is the initialisation).

A run diverges at iteration k when the mini-batch loss of step k, the train/test loss at
checkpoint k, or the gradient noise at checkpoint k is not finite; it then stops and is
recorded as diverged (``on_divergence: record``) or fails (``fail``). Training is resumable
after a kill with bit-identical results on CPU (:mod:`sgnoise.training.state`, docs/faults.md).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch

from sgnoise.models import build_model, parameter_layout
from sgnoise.models.losses import get_loss
from sgnoise.noise.measure import measure_noise, random_minibatch_noise, select_columns
from sgnoise.study.naming import ADAM_BETAS, OPTIMIZERS
from sgnoise.study.schedule import learning_rate
from sgnoise.study.spec import RunSpec
from sgnoise.training.outputs import (RunCheckpoints, clear_output_temporaries, dump_header, evaluate, pooled_arrays,
                                      pooled_options, write_run_outputs)
from sgnoise.training.progress import Progress
from sgnoise.training.runtime import run_fingerprint, seed_everything
from sgnoise.training.state import RunStateDirectory, restore_rng, rng_snapshot, temporary_state_directory


def make_optimizer(spec: RunSpec, model):
    """torch.optim.Adam for an Adam run (ε = 1e-8, no weight decay; its step size is set every iteration
    from the schedule); None for plain SGD, whose update w ← w − η g is done in place by the loop."""
    optimizer = spec.optimizer or {"name": "sgd"}
    if optimizer["name"] == "sgd":
        return None
    if optimizer["name"] == "adam":
        return torch.optim.Adam(model.parameters(), lr=spec.lr, betas=tuple(optimizer.get("betas", ADAM_BETAS)))
    raise ValueError(f"unknown optimizer {optimizer['name']!r}; expected one of {', '.join(OPTIMIZERS)}")


def _checkpoint_row(model, loss_fn, data, iteration, lr) -> dict:
    train_loss, train_acc = evaluate(model, loss_fn, data["train_x"], data["train_y"])
    test_loss, test_acc = evaluate(model, loss_fn, data["test_x"], data["test_y"])
    return dict(iteration=iteration, step_size=lr, train_loss=train_loss, train_accuracy=train_acc,
                test_loss=test_loss, test_accuracy=test_acc)


def train_run(spec: RunSpec, data: dict, noise_path, metrics_path, status_path, device="cpu", *,
              state_root=None, state_interval_s=None, log=None, matrix_memory_mb=1024.0,
              progress_interval_s: float | None = 10.0, model=None) -> dict:
    """Train ``spec`` on ``data`` (from :func:`sgnoise.data.load_prepared`), writing the noise dump,
    metrics and a status file. Returns the status dict.

    Resumable: with ``state_root`` the full training state (see :mod:`sgnoise.training.state`) is saved to
    ``<state_root>/<run_id>/`` after every checkpoint and, between checkpoints, whenever
    ``state_interval_s`` seconds of wall time have passed since the last save; a later call with the
    same spec resumes from it and, on CPU, gives bit-identical outputs. The directory is deleted
    once the outputs are written (kept when the run fails, so a rerun resumes). Without
    ``state_root`` a throw-away state directory next to the noise dump is used.

    ``log`` (a callable taking a line) receives progress (:class:`sgnoise.training.progress.Progress`): every
    ``progress_interval_s`` seconds the iteration, mini-batch loss and accuracy, speed and ETA, and
    a line per checkpoint (``None``: no progress lines).

    ``model``: a ready ``torch.nn.Module`` to train instead of building ``spec.model`` (sgnoise.api;
    its weights as given are the initialisation, and it is trained in place).
    """
    log = log or (lambda message: None)
    noise_path, metrics_path = Path(noise_path), Path(metrics_path)
    if state_root is None:
        directory_context = temporary_state_directory(noise_path.parent)
    else:
        directory_context = RunStateDirectory(Path(state_root) / spec.run_id, root=state_root)
    with directory_context as state_dir:
        clear_output_temporaries(noise_path, metrics_path, status_path, log=log)
        status, rows, checkpoints = _train_resumable(spec, data, state_dir, noise_path, device, state_interval_s, log,
                                                     matrix_memory_mb, progress_interval_s, model)
        if status["status"] == "diverged" and spec.on_divergence == "fail":
            checkpoints.abort()
            raise FloatingPointError(f"run {spec.run_id} diverged at iteration {status['diverged_at']} (loss or gradient "
                                     "noise not finite); lower the learning rate or set train.on_divergence: record")
        write_run_outputs(checkpoints, metrics_path, status_path, rows, status, data["num_classes"])
        if state_root is not None:
            state_dir.remove()
    return status


def test_set_pooled(model, loss_fn, test_x, test_y, spec: RunSpec, matrix_memory_mb) -> dict | None:
    """Pooled statistics of the noise over the test set's partition into ⌊n_test/b⌋ mini-batches (the
    reference code measured both sets); None when b exceeds the test set."""
    if spec.batch_size > len(test_x):
        return None
    none = torch.empty(0, dtype=torch.long, device=test_x.device)
    measured = measure_noise(model, loss_fn, test_x, test_y, spec.batch_size, none, pooled=pooled_options(spec),
                             matrix_memory_mb=matrix_memory_mb)
    return measured.pooled


def _train_resumable(spec: RunSpec, data: dict, state_dir: RunStateDirectory, noise_path, device, state_interval_s, log,
                     matrix_memory_mb=1024.0, progress_interval_s=10.0, model=None):
    """The SGD loop with checkpoints, saving and restoring state in ``state_dir``.

    Returns (status, metrics rows, the run's RunCheckpoints, its noise dump still open). A state saved "at iteration t" holds the
    model after t SGD steps and every checkpoint up to and including t already in ``state_dir``."""
    generator = seed_everything(spec.seed)
    train_x, train_y = data["train_x"].to(device), data["train_y"].to(device)
    test_x, test_y = data["test_x"].to(device), data["test_y"].to(device)
    sets = dict(train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y)
    n = len(train_x)
    if not 1 <= spec.batch_size <= n:
        raise ValueError(f"batch_size={spec.batch_size} must be in [1, {n}] (training set size of {spec.dataset})")
    model = (build_model(spec.model, tuple(train_x.shape[1:]), data["num_classes"]) if model is None else model).to(device)
    optimizer = make_optimizer(spec, model)
    loss_fn = get_loss(spec.loss)
    layout = parameter_layout(model)
    n_params = sum(size for _, _, size in layout)
    columns = select_columns(n_params, spec.max_coords, spec.noise_seed)
    columns_t = torch.from_numpy(columns).to(device)
    noise_generator = torch.Generator().manual_seed(spec.noise_seed + 1)
    generators = dict(data_order=generator, random_minibatches=noise_generator)
    checkpoints = set(spec.checkpoints)
    batches_per_epoch = n // spec.batch_size
    header = dump_header(spec, columns, layout, batches_per_epoch)
    identity = run_fingerprint(spec, device)

    rows, status = [], {"status": "ok", "diverged_at": None, "iterations_done": 0}
    start, done, order = 0, [], None
    saved, reason = state_dir.load_state(identity)
    if saved is None:
        if reason != "no saved state":
            log(f"{reason}: discarding it and training from the start")
        state_dir.clear()
    else:
        model.load_state_dict(saved["model"])
        if optimizer is not None:
            optimizer.load_state_dict(saved["optimizer"])
        restore_rng(saved["rng"], generators)
        start, done, rows, status = saved["iteration"], list(saved["checkpoints_done"]), saved["rows"], saved["status"]
        order = saved["order"].to(device) if saved["order"] is not None else None
        state_dir.keep_checkpoints(done)
        log(f"resuming {spec.run_id} from {state_dir.state_path}: {start} SGD steps done, checkpoints {done}")

    def save(iteration):
        state_dir.save_state(dict(
            iteration=iteration, checkpoints_done=list(done), rows=rows, status=status,
            model={key: value.detach().cpu().clone() for key, value in model.state_dict().items()},
            optimizer=optimizer.state_dict() if optimizer is not None else None,
            rng=rng_snapshot(generators), order=order.cpu() if order is not None else None), identity)

    dump = RunCheckpoints(state_dir, noise_path, header)  # the dump is written as checkpoints are taken
    progress = Progress(spec.run_id, spec.iterations, start, log, progress_interval_s)
    try:
        dump.replay(done)
        last_save = time.monotonic()
        for iteration in range(start, spec.iterations + 1):
            lr = learning_rate(spec.lr, iteration, spec.iterations, spec.lr_milestones, spec.lr_factor)
            if iteration in checkpoints and iteration not in done:
                began = time.monotonic()
                row = _checkpoint_row(model, loss_fn, sets, iteration, lr)
                if not (math.isfinite(row["train_loss"]) and math.isfinite(row["test_loss"])):
                    status.update(status="diverged", diverged_at=iteration)
                    rows.append(row)
                    break
                measured = measure_noise(model, loss_fn, train_x, train_y, spec.batch_size, columns_t,
                                         pooled=pooled_options(spec), matrix_memory_mb=matrix_memory_mb)
                full_gradient = measured.full_gradient
                row["full_gradient_norm"] = float(full_gradient.norm())
                if not measured.finite:  # finite loss, overflowing gradients: diverged too
                    status.update(status="diverged", diverged_at=iteration)
                    rows.append(row)
                    break
                arrays = dict(noise=measured.stored.cpu().numpy(), full_gradient=full_gradient[columns_t].cpu().numpy(),
                              **pooled_arrays("pooled", measured.pooled))
                if spec.noise_test_set:
                    arrays.update(pooled_arrays("pooled_test", test_set_pooled(model, loss_fn, test_x, test_y, spec,
                                                                               matrix_memory_mb)))
                if spec.random_minibatches:
                    noise_random = random_minibatch_noise(model, loss_fn, train_x, train_y, spec.batch_size,
                                                          spec.random_minibatches, full_gradient, noise_generator)
                    arrays["noise_random"] = noise_random[:, columns_t].cpu().numpy()
                dump.add(iteration, arrays, row)
                rows.append(row)
                done.append(iteration)
                save(iteration)
                progress.checkpoint(iteration, {spec.run_id: row}, time.monotonic() - began)
                last_save = time.monotonic()
            if iteration == spec.iterations:
                break
            position = iteration % batches_per_epoch
            if position == 0:
                order = torch.randperm(n, generator=generator).to(device)
            index = order[position * spec.batch_size:(position + 1) * spec.batch_size]
            model.zero_grad(set_to_none=True)
            targets = train_y[index]
            output = model(train_x[index])
            loss = loss_fn(output, targets)
            if not torch.isfinite(loss):
                status.update(status="diverged", diverged_at=iteration)
                rows.append(dict(iteration=iteration, step_size=lr, train_loss=float(loss.detach())))
                break
            loss.backward()
            if optimizer is None:
                with torch.no_grad():
                    for p in model.parameters():
                        p.add_(p.grad, alpha=-lr)
            else:
                optimizer.param_groups[0]["lr"] = lr
                optimizer.step()
            status["iterations_done"] = iteration + 1
            progress.record(spec.run_id, loss.detach() * len(index), (output.detach().argmax(1) == targets).sum(), len(index))
            progress.tick(iteration + 1)
            if state_interval_s is not None and time.monotonic() - last_save >= state_interval_s:
                save(iteration + 1)
                last_save = time.monotonic()
    except BaseException:
        dump.abort()
        raise
    return status, rows, dump
