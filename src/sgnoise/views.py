"""Views of a noise dump → tidy α table (one row per checkpoint, method, view)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sgnoise import tail
from sgnoise.store import NoiseDump

COLUMNS = ["iteration", "method", "view", "layer", "alpha", "ci_low", "ci_high", "n_samples", "zero_fraction", "zeros"]
VIEWS = ("pooled",)


def alpha_table(path, methods=("mohammadi",), views=("pooled",), zeros="exclude", method_options=None) -> pd.DataFrame:
    """α for every checkpoint of the noise dump at ``path``, per method and view (DESIGN.md §2)."""
    method_options = method_options or {}
    for view in views:
        if view not in VIEWS:
            raise ValueError(f"unknown view {view!r}; expected one of {', '.join(VIEWS)}")
    rows = []
    with NoiseDump(path) as dump:
        for iteration in dump.iterations:
            noise = dump.noise_array(iteration)
            zero_fraction = float(np.mean(noise == 0))
            for method in methods:
                alpha = tail.estimate_alpha(noise, method=method, zeros=zeros, **method_options.get(method, {}))
                n_samples = int(np.count_nonzero(noise)) if zeros == "exclude" else noise.size
                rows.append(dict(iteration=iteration, method=method, view="pooled", layer="", alpha=alpha,
                                 ci_low=np.nan, ci_high=np.nan, n_samples=n_samples,
                                 zero_fraction=zero_fraction, zeros=zeros))
    return pd.DataFrame(rows, columns=COLUMNS)


def alpha_tables_from_config(path, alpha_config: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Entry point of the workflow's α rule: the ``alpha:`` config block (schemas/alpha.schema.yaml)
    → (alpha table, per-coordinate α table). Keep this signature: scripts/alpha.py calls it."""
    table = alpha_table(path, methods=alpha_config.get("methods", ["mohammadi"]),
                        views=alpha_config.get("views", ["pooled"]), zeros=alpha_config.get("zeros", "exclude"))
    per_parameter = pd.DataFrame(columns=["iteration", "method", "column", "layer", "alpha"])
    return table, per_parameter
