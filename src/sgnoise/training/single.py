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

import json
import math
import os
import random
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from sgnoise import __version__
from sgnoise.atomic import write_csv_atomic, write_text_atomic
from sgnoise.data import load_prepared
from sgnoise.models.losses import get_loss
from sgnoise.models import build_model, parameter_layout
from sgnoise.noise.measure import measure_noise, random_minibatch_noise, select_columns
from sgnoise.training.progress import Progress
from sgnoise.study.naming import ADAM_BETAS, OPTIMIZERS
from sgnoise.study.spec import RunSpec  # noqa: F401  (re-exported)
from sgnoise.training.state import (RunStateDirectory, fingerprint, remove_stale_temporaries, restore_rng, rng_snapshot,
                           temporary_state_directory)
from sgnoise.noise.dump import NoiseDumpWriter
from sgnoise.study.schedule import checkpoint_schedule, learning_rate  # noqa: F401  (re-exported)

METRIC_COLUMNS = ["iteration", "step_size", "train_loss", "train_accuracy", "test_loss", "test_accuracy"]


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


def load_run_data(path, device="cpu") -> dict:
    """:func:`sgnoise.data.load_prepared`, with a damaged archive (bad zip CRC-32 checksum or truncated)
    reported as a ValueError naming the file instead of a zipfile traceback."""
    try:
        return load_prepared(path, device=device)
    except (zipfile.BadZipFile, zlib.error) as error:
        raise ValueError(f"prepared dataset {path} is damaged ({error}); delete it and rerun to prepare it again") from None


def configure_determinism(device: str, threads: int) -> None:
    """Fix what the numerics depend on besides the seed: torch's CPU thread count (from the config, never
    from how many jobs run at once) and, on CUDA, deterministic cuBLAS/cuDNN algorithm choices."""
    torch.set_num_threads(int(threads))
    if torch.device(device).type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # must precede the first cuBLAS call
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True, warn_only=True)


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


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


def run_fingerprint(spec: RunSpec, device: str) -> str:
    """Identity of a run's numerics: its config, the device type, torch's thread count, the library version.

    A saved state is resumed only under the same fingerprint (else bit-identity could not hold)."""
    return numerics_fingerprint(device, spec=spec.to_dict())


def numerics_fingerprint(device, **identity) -> str:
    """Fingerprint of ``identity`` (what is trained) with what else the numerics depend on: the device
    type, torch's thread count, the sgnoise and torch versions."""
    return fingerprint(dict(identity, device=torch.device(device).type, threads=torch.get_num_threads(),
                            sgnoise_version=__version__, torch_version=torch.__version__))


def dump_header(spec: RunSpec, columns, layout, n_minibatches: int) -> dict:
    """What RunCheckpoints needs to start a run's noise dump: stored columns, layer table, file attributes."""
    return dict(columns=columns, layers=layout, run_id=spec.run_id, config=spec.to_dict(),
                n_params=sum(size for _, _, size in layout), batch_size=spec.batch_size, n_minibatches=n_minibatches,
                n_random_minibatches=spec.random_minibatches)


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


class RunCheckpoints:
    """A run's checkpoints as they are taken: each saved to a file in its state directory (what a
    resumed run reads back) and appended to the noise dump being written there (``noise.h5.partial``),
    which :meth:`complete` renames onto the final path. A partial dump is never trusted after a kill:
    a resumed run starts a new one and first replays the checkpoint files of its state (:meth:`replay`)."""

    def __init__(self, state_dir: RunStateDirectory, noise_path, header: dict):
        """``header``: ``columns``, ``layers`` and the file attributes of the dump (NoiseDumpWriter)."""
        attrs = dict(header)
        columns, layers = attrs.pop("columns"), attrs.pop("layers")
        self.state_dir = state_dir
        self.writer = NoiseDumpWriter(noise_path, columns=columns, layers=layers, attrs=attrs,
                                      partial_path=state_dir.partial_dump_path,
                                      checksum=(attrs.get("config") or {}).get("checksum", False))

    def add(self, iteration: int, arrays: dict, attrs: dict) -> None:
        """Save one checkpoint (``noise``, ``full_gradient``, optional ``noise_random``; metrics ``attrs``)."""
        self.state_dir.save_checkpoint(iteration, arrays, attrs)
        self._append(iteration, arrays, attrs)

    def replay(self, iterations) -> None:
        """Append the saved checkpoint files of ``iterations`` to the dump (after resuming)."""
        for iteration in sorted(iterations):
            arrays, attrs = self.state_dir.load_checkpoint(iteration)
            self._append(iteration, arrays, attrs)

    def _append(self, iteration, arrays, attrs) -> None:
        extra = {key: value for key, value in arrays.items() if "." in key}
        self.writer.add_checkpoint(iteration, arrays["noise"], arrays["full_gradient"], attrs,
                                   noise_random=arrays.get("noise_random"), extra=extra)

    def complete(self, status: str) -> None:
        """Record the run's status in the dump and rename it onto its final path."""
        self.writer.close(complete=True, attrs={"status": status})

    def abort(self) -> None:
        self.writer.abort()


LEARNED_MARGIN = 0.05  # status.json's "learned": final training accuracy above chance + this


def learned_status(rows: list, status: dict, num_classes: int, margin: float = LEARNED_MARGIN) -> dict:
    """Whether a run learned: it did not diverge and its final training accuracy (last checkpoint with
    one) exceeds chance, 1/classes, by more than ``margin``. The study tables recompute this from
    metrics.csv with ``figures.learned_margin``."""
    accuracies = [row["train_accuracy"] for row in rows if math.isfinite(row.get("train_accuracy", math.nan))]
    final = accuracies[-1] if accuracies else math.nan
    chance = 1.0 / num_classes
    learned = status["status"] == "ok" and math.isfinite(final) and final > chance + margin
    return dict(learned=bool(learned), final_train_accuracy=final if math.isfinite(final) else None,
                chance_accuracy=chance, learned_margin=margin)


def write_run_outputs(checkpoints: RunCheckpoints, metrics_path, status_path, rows: list, status: dict,
                      num_classes: int | None = None) -> None:
    """A finished run's outputs, each written atomically: the noise dump (:meth:`RunCheckpoints.complete`;
    the status goes into its attributes), the metrics rows as CSV (every METRIC_COLUMNS column) and
    the status as JSON (with :func:`learned_status` when ``num_classes`` is given)."""
    if num_classes is not None:
        status.update(learned_status(rows, status, num_classes))
    checkpoints.complete(status["status"])
    metrics = pd.DataFrame(rows)
    for column in METRIC_COLUMNS:
        if column not in metrics:
            metrics[column] = np.nan
    write_csv_atomic(metrics, metrics_path)
    status["sgnoise_version"] = __version__
    write_text_atomic(status_path, json.dumps(status, indent=2) + "\n")


def clear_output_temporaries(*paths, log=None) -> None:
    """Remove temporaries that killed writers left next to the output files ``paths`` (hold the run's lock)."""
    paths = [Path(path) for path in paths]
    for output in {path.parent for path in paths}:
        for removed in remove_stale_temporaries(output, [path.name for path in paths]):
            if log is not None:
                log(f"removed temporary file {removed} left by a killed writer")


def pooled_options(spec: RunSpec) -> dict:
    """The streamed pooled estimate's options of a run (sgnoise.noise.measure.measure_noise)."""
    return dict(k1_grid=list(spec.pooled_k1_grid), zeros=spec.pooled_zeros)


def pooled_arrays(prefix: str, statistics: dict | None) -> dict:
    """Checkpoint arrays ``<prefix>.<statistic>`` of pooled statistics (none when ``statistics`` is None)."""
    return {f"{prefix}.{key}": np.asarray(value) for key, value in (statistics or {}).items()}


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
