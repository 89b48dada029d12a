"""The Hill-plot table of the example runs: α̂ of the top-k estimators against k, from each run's dump."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from sgnoise.aggregate._runs import run_of_path
from sgnoise.tail import HILL_PLOT_COLUMNS, hill_plot_table


def hill_plot_curves(noise_paths, status_paths, points: int = 60, zeros: str = "exclude") -> pd.DataFrame:
    """The hill_plot table: sgnoise.tail.hill_plot_table (α̂ of Hill, moment and Pickands against k
    on the stored entries of the last checkpoint) of each run's dump, columns ``run`` + HILL_PLOT_COLUMNS.
    A run whose status.json (``status_paths``, in the order of ``noise_paths``) is not "ok" (diverged:
    no finite noise to plot) has no rows and is named on stderr."""
    curves = []
    for noise, status in zip(noise_paths, status_paths):
        run = run_of_path(noise)
        if json.loads(Path(status).read_text())["status"] != "ok":  # diverged: no finite noise to plot
            print(f"{run}: not drawn (status not ok)", file=sys.stderr)
            continue
        curves.append(hill_plot_table(noise, points=points, zeros=zeros).assign(run=run))
    curves = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=[*HILL_PLOT_COLUMNS, "run"])
    return curves[["run", *HILL_PLOT_COLUMNS]]
