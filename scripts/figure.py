"""Generic figure script: named CSV inputs → sgnoise.figures.<module>.<function>(**tables, **options) → PDF + PNG.

An input that lists several per-run files is concatenated with a ``run`` column.
"""

import sys

sys.stderr = open(snakemake.log[0], "w")

import importlib

import pandas as pd

from sgnoise.figures.style import save_figure
from sgnoise.aggregate import run_of_path

tables = {}
for name, value in snakemake.input.items():
    paths = [value] if isinstance(value, str) else list(value)
    if len(paths) == 1 and "results/runs/" not in paths[0]:
        tables[name] = pd.read_csv(paths[0])
    else:
        tables[name] = pd.concat([pd.read_csv(p).assign(run=run_of_path(p)) for p in paths], ignore_index=True)
module_name, function_name = snakemake.params.function.rsplit(".", 1)
function = getattr(importlib.import_module(f"sgnoise.figures.{module_name}"), function_name)
fig = function(**tables, **snakemake.params.options)
save_figure(fig, [snakemake.output.pdf, snakemake.output.png])
