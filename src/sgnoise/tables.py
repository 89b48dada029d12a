"""Tidy study tables: per-run CSVs concatenated with the run's config columns."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

RUN_COLUMNS = ["run", "dataset", "model", "depth", "width", "scale", "variant", "loss", "batch_size", "lr",
               "iterations", "seed", "status", "diverged_at"]


def runs_table(runs: dict, status_paths) -> pd.DataFrame:
    """One row per run: id, config values (model size keys flattened) and training status."""
    statuses = {}
    for path in status_paths:
        run = str(Path(path).parent).split("results/runs/", 1)[-1]
        statuses[run] = json.loads(Path(path).read_text())
    rows = []
    for run, spec in runs.items():
        row = dict(run=run, dataset=spec["dataset"], loss=spec["loss"], batch_size=spec["batch_size"], lr=spec["lr"],
                   iterations=spec["iterations"], seed=spec["seed"], **spec["model"])
        status = statuses.get(run, {})
        row["status"] = status.get("status", "missing")
        row["diverged_at"] = status.get("diverged_at")
        rows.append(row)
    frame = pd.DataFrame(rows)
    return frame.reindex(columns=[c for c in RUN_COLUMNS if c in frame.columns] +
                         [c for c in frame.columns if c not in RUN_COLUMNS])


def run_of_path(path) -> str:
    return str(Path(path).parent).split("results/runs/", 1)[-1]


def concat_run_tables(paths, runs: pd.DataFrame) -> pd.DataFrame:
    """Concatenate per-run CSVs, prefixing each row with its run's columns."""
    frames = []
    for path in paths:
        frame = pd.read_csv(path)
        frame.insert(0, "run", run_of_path(path))
        frames.append(frame)
    if not frames:
        return runs.iloc[0:0]
    table = pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)
    run_columns = [c for c in runs.columns if c not in ("status", "diverged_at") or c not in table.columns]
    return runs[run_columns].merge(table, on="run", how="right")
