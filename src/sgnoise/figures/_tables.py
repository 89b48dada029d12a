"""A figure rule's named inputs read as tables (:func:`read_tables`, for scripts/figure.py)."""

from __future__ import annotations

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
