"""The tables of the figure rules: a rule's named inputs read as tables (:func:`read_tables`, for
scripts/figure.py) and the hill_plot figure's curves of α̂ against k (:func:`hill_plot_curves`, for
rule hill_plot_table)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from sgnoise.aggregate import run_of_path


def read_tables(inputs, per_run=()) -> dict[str, pd.DataFrame]:
    """The named inputs of a figure rule (name → one CSV path or a list of them) as tables, by name: one
    path read as it is; the files of an input named in ``per_run`` (results/runs/<run>/<file>)
    concatenated with a ``run`` column (sgnoise.aggregate.run_of_path); the files of another list
    concatenated as they are, empty ones left out unless all are."""
    tables = {}
    for name, value in inputs.items():
        if name in per_run:
            paths = [value] if isinstance(value, str) else list(value)
            tables[name] = pd.concat([pd.read_csv(path).assign(run=run_of_path(path)) for path in paths], ignore_index=True)
        elif isinstance(value, str):
            tables[name] = pd.read_csv(value)
        else:
            frames = [pd.read_csv(path) for path in value]
            tables[name] = pd.concat([frame for frame in frames if len(frame)] or frames[:1], ignore_index=True)
    return tables


def hill_plot_curves(noise_paths, status_paths, points: int = 60, zeros: str = "exclude") -> pd.DataFrame:
    """The hill_plot table: sgnoise.tail.views.hill_plot_table (α̂ of Hill, moment and Pickands against k
    on the stored entries of the last checkpoint) of each run's dump, columns ``run`` + HILL_PLOT_COLUMNS.
    A run whose status.json (``status_paths``, in the order of ``noise_paths``) is not "ok" (diverged:
    no finite noise to plot) has no rows and is named on stderr."""
    from sgnoise.tail.views import HILL_PLOT_COLUMNS, hill_plot_table  # imports torch (≈ 2 s): not for every figure

    curves = []
    for noise, status in zip(noise_paths, status_paths):
        run = run_of_path(noise)
        if json.loads(Path(status).read_text())["status"] != "ok":  # diverged: no finite noise to plot
            print(f"{run}: not drawn (status not ok)", file=sys.stderr)
            continue
        curves.append(hill_plot_table(noise, points=points, zeros=zeros).assign(run=run))
    curves = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=[*HILL_PLOT_COLUMNS, "run"])
    return curves[["run", *HILL_PLOT_COLUMNS]]
