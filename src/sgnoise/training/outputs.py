"""A run's outputs: metrics rows of a checkpoint, the noise dump being written (RunCheckpoints), the status
with whether the run learned, and the atomic writes of all three (docs/faults.md)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from sgnoise import __version__
from sgnoise.atomic import write_csv_atomic, write_text_atomic
from sgnoise.noise.dump import NoiseDumpWriter
from sgnoise.study.spec import RunSpec
from sgnoise.training.state import RunStateDirectory, remove_stale_temporaries

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


def dump_header(spec: RunSpec, columns, layout, n_minibatches: int) -> dict:
    """What RunCheckpoints needs to start a run's noise dump: stored columns, layer table, file attributes."""
    return dict(columns=columns, layers=layout, run_id=spec.run_id, config=spec.to_dict(),
                n_params=sum(size for _, _, size in layout), batch_size=spec.batch_size, n_minibatches=n_minibatches,
                n_random_minibatches=spec.random_minibatches)


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
        """Discard the partial dump (the run failed or was interrupted); the checkpoint files stay."""
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
