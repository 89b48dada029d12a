"""Per-run outputs gathered into study tables: one row per run (config values, status, learned), per-run CSVs
concatenated with their run's columns, checkpoint selections, the report's overview."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from sgnoise.data import DATASETS, dataset_info

RUN_COLUMNS = ["run", "dataset", "model", "depth", "width", "scale", "variant", "loss", "batch_size", "lr",
               "iterations", "seed", "status", "diverged_at", "learned", "final_train_accuracy", "chance_accuracy"]
# run columns kept in runs.csv only, not repeated on every row of the other study tables
RUNS_ONLY_COLUMNS = ("final_train_accuracy", "chance_accuracy")
LEARNED_COLUMNS = ["run", "final_train_accuracy", "chance_accuracy", "learned"]


def runs_table(runs: dict, status_paths) -> pd.DataFrame:
    """One row per run: id, config values (model size keys flattened) and training status."""
    statuses = {}
    for path in status_paths:
        run = run_of_path(path)
        statuses[run] = json.loads(Path(path).read_text())
    rows = []
    for run, spec in runs.items():
        model = {key: json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value
                 for key, value in spec["model"].items()}  # a custom model's kwargs as one JSON cell
        row = dict(run=run, dataset=spec["dataset"], loss=spec["loss"], batch_size=spec["batch_size"], lr=spec["lr"],
                   iterations=spec["iterations"], seed=spec["seed"], **model)
        if spec.get("optimizer"):  # Adam runs only, so the tables of SGD-only studies keep their columns
            row["optimizer"] = spec["optimizer"]["name"]
            row["betas"] = ",".join(f"{beta:g}" for beta in spec["optimizer"]["betas"])
        status = statuses.get(run, {})
        row["status"] = status.get("status", "missing")
        row["diverged_at"] = status.get("diverged_at")
        if spec.get("dataset_path"):  # a user's dataset: its number of classes is known from the run only
            row["chance_accuracy"] = status.get("chance_accuracy", np.nan)
        rows.append(row)
    frame = pd.DataFrame(rows)
    return frame.reindex(columns=[c for c in RUN_COLUMNS if c in frame.columns] +
                         [c for c in frame.columns if c not in RUN_COLUMNS])


def learned_flags(metrics: pd.DataFrame, runs: pd.DataFrame, margin: float) -> pd.DataFrame:
    """Whether each run of ``runs`` learned, from the concatenated metrics table (``run``,
    ``iteration``, ``train_accuracy``): one row per run with ``final_train_accuracy`` (the last row,
    in iteration order, with a finite training accuracy), ``chance_accuracy`` (1 / the dataset's
    number of classes, :func:`sgnoise.data.dataset_info`) and ``learned`` (nullable boolean):
    True iff the run did not diverge and its final training accuracy exceeds chance by more than
    ``margin``; False for a diverged run; NA for a run with no finite training accuracy in
    ``metrics`` (metrics missing). Does not read status.json's own ``learned`` (written at
    training time with the margin of that time)."""
    if not 0 <= margin <= 1:
        raise ValueError(f"learned margin must be in [0, 1], got {margin}")
    finals = {}
    if len(metrics) and {"run", "train_accuracy"} <= set(metrics.columns):
        rows = metrics[["run", "train_accuracy"] + (["iteration"] if "iteration" in metrics.columns else [])].copy()
        rows["train_accuracy"] = pd.to_numeric(rows["train_accuracy"], errors="coerce")
        rows = rows[np.isfinite(rows["train_accuracy"])]
        if "iteration" in rows.columns:
            rows = rows.sort_values("iteration", kind="stable")
        finals = rows.groupby("run", sort=False)["train_accuracy"].last().to_dict()
    records = []
    for run in runs.itertuples(index=False):
        chance = (1.0 / dataset_info(run.dataset).num_classes if run.dataset in DATASETS
                  else float(getattr(run, "chance_accuracy", np.nan)))
        final = finals.get(run.run, np.nan)
        if getattr(run, "status", "ok") == "diverged":
            learned = False
        elif np.isfinite(final):
            learned = bool(final > chance + margin)
        else:
            learned = pd.NA
        records.append(dict(run=run.run, final_train_accuracy=final, chance_accuracy=chance, learned=learned))
    flags = pd.DataFrame(records, columns=LEARNED_COLUMNS)
    flags["final_train_accuracy"] = flags["final_train_accuracy"].astype(float)
    flags["chance_accuracy"] = flags["chance_accuracy"].astype(float)
    flags["learned"] = flags["learned"].astype("boolean")
    return flags


def with_learned_flags(runs: pd.DataFrame, flags: pd.DataFrame) -> pd.DataFrame:
    """``runs`` (from :func:`runs_table`) with the columns of :func:`learned_flags` (replacing any of
    the same name), in ``RUN_COLUMNS`` order."""
    frame = runs.drop(columns=[c for c in LEARNED_COLUMNS[1:] if c in runs.columns]).merge(flags, on="run", how="left")
    frame["learned"] = frame["learned"].astype("boolean")
    return frame.reindex(columns=[c for c in RUN_COLUMNS if c in frame.columns] +
                         [c for c in frame.columns if c not in RUN_COLUMNS])


def run_of_path(path) -> str:
    """The run id of a per-run file ``results/runs/<run id>/<name>`` (its folder below results/runs/)."""
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
    run_columns = [c for c in runs.columns if (c not in ("status", "diverged_at") or c not in table.columns)
                   and c not in RUNS_ONLY_COLUMNS]
    return runs[run_columns].merge(table, on="run", how="right")


def last_checkpoint(table: pd.DataFrame) -> pd.DataFrame:
    """Rows at each run's last checkpoint (``iteration`` column)."""
    if table.empty:
        return table
    keep = table["iteration"] == table.groupby("run")["iteration"].transform("max")
    return table[keep].reset_index(drop=True)


def first_and_last_checkpoint(table: pd.DataFrame) -> pd.DataFrame:
    """Rows at each run's first and last checkpoint (``iteration`` column)."""
    if table.empty:
        return table
    grouped = table.groupby("run")["iteration"]
    keep = (table["iteration"] == grouped.transform("min")) | (table["iteration"] == grouped.transform("max"))
    return table[keep].reset_index(drop=True)


OVERVIEW_COLUMNS = ["run", "status", "learned", "final_train_accuracy", "final_test_accuracy", "iteration", "alpha",
                    "ci_low", "ci_high", "K1", "N"]


def runs_overview(runs: pd.DataFrame, alpha: pd.DataFrame, metrics: pd.DataFrame, method: str = "mohammadi",
                  view: str = "pooled") -> pd.DataFrame:
    """One row per run for the report's landing table: status, learned, the final training and test
    accuracy (last metrics row with a finite training accuracy), and the ``method`` α̂ of ``view`` at
    the run's last estimated checkpoint with its interval, K1 and N (NaN where there is none)."""
    frame = runs[[c for c in ("run", "status", "learned") if c in runs.columns]].copy()
    if len(metrics) and "train_accuracy" in metrics.columns:
        finite = metrics[np.isfinite(pd.to_numeric(metrics["train_accuracy"], errors="coerce"))]
        last = finite.sort_values("iteration", kind="stable").groupby("run").last()
        frame["final_train_accuracy"] = frame["run"].map(last["train_accuracy"])
        frame["final_test_accuracy"] = frame["run"].map(last.get("test_accuracy", pd.Series(dtype=float)))
    rows = alpha[(alpha["method"] == method) & (alpha["view"] == view)] if len(alpha) else alpha
    if len(rows):
        rows = rows[np.isfinite(pd.to_numeric(rows["alpha"], errors="coerce"))]
        rows = rows[rows["iteration"] == rows.groupby("run")["iteration"].transform("max")].drop_duplicates("run")
        keep = [c for c in ("run", "iteration", "alpha", "ci_low", "ci_high", "K1", "N") if c in rows.columns]
        frame = frame.merge(rows[keep], on="run", how="left")
    return frame.reindex(columns=OVERVIEW_COLUMNS)


def report_runs_table(overview: pd.DataFrame) -> pd.DataFrame:
    """:func:`runs_overview` as the report's landing table, narrow enough to read beside the workflow
    graph: run, learned (or the status when not "ok"), "train / test" accuracy, "α̂ [low, high]", K1."""
    def number(value, digits):
        return "–" if pd.isna(value) else f"{value:.{digits}f}"

    rows = []
    for row in overview.itertuples(index=False):
        learned = row.status if row.status != "ok" else ("yes" if row.learned is True or str(row.learned) == "True"
                                                          else "no" if str(row.learned) == "False" else "?")
        accuracy = f"{number(row.final_train_accuracy, 2)} / {number(row.final_test_accuracy, 2)}"
        alpha = "–" if pd.isna(row.alpha) else \
            f"{row.alpha:.2f} [{number(row.ci_low, 2)}, {number(row.ci_high, 2)}]"
        rows.append({"run": row.run, "learned": learned, "accuracy train / test": accuracy,
                     "pooled α̂ [95 % CI]": alpha, "K1": "–" if pd.isna(row.K1) else str(int(row.K1))})
    return pd.DataFrame(rows, columns=["run", "learned", "accuracy train / test", "pooled α̂ [95 % CI]", "K1"])
