"""Tidy study tables: per-run CSVs concatenated with the run's config columns."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

RUN_COLUMNS = ["run", "dataset", "model", "depth", "width", "scale", "variant", "loss", "batch_size", "lr",
               "iterations", "seed", "status", "diverged_at"]


def unestimated_alpha_table(iterations, methods, views, columns) -> pd.DataFrame:
    """Rows (iteration × method × view) with α and every estimate left empty (NaN): the α table of a
    run whose noise is not trusted (it diverged), so every figure shows the run as missing."""
    rows = [dict(iteration=int(i), method=m, view=v, layer="") for i in iterations for m in methods for v in views]
    return pd.DataFrame(rows, columns=list(columns))


def mark_run_status(alpha: pd.DataFrame, status: dict) -> pd.DataFrame:
    """``alpha`` with the run's training outcome on every row: ``run_status`` ("ok" or "diverged")
    and ``diverged_at`` (the iteration whose loss was not finite, empty if none)."""
    alpha = alpha.copy()
    alpha["run_status"] = status["status"]
    alpha["diverged_at"] = pd.array([status.get("diverged_at")] * len(alpha), dtype="Int64")
    return alpha


def runs_table(runs: dict, status_paths) -> pd.DataFrame:
    """One row per run: id, config values (model size keys flattened) and training status."""
    statuses = {}
    for path in status_paths:
        run = run_of_path(path)
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


def first_and_last_checkpoint(table: pd.DataFrame) -> pd.DataFrame:
    """Rows at each run's first and last checkpoint (``iteration`` column)."""
    if table.empty:
        return table
    grouped = table.groupby("run")["iteration"]
    keep = (table["iteration"] == grouped.transform("min")) | (table["iteration"] == grouped.transform("max"))
    return table[keep].reset_index(drop=True)
