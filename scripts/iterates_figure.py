import sys

sys.stderr = open(snakemake.log[0], "w")

import pandas as pd

from sgnoise.figures.style import save_figure, set_style
from sgnoise.figures import iterates


def read_all(paths):
    frames = [pd.read_csv(path) for path in paths]
    frames = [frame for frame in frames if len(frame)] or frames[:1]
    return pd.concat(frames, ignore_index=True)


set_style()
tables = {name: read_all([paths] if isinstance(paths, str) else list(paths)) for name, paths in snakemake.input.items()}
fig = getattr(iterates, snakemake.params.figure)(**tables, **snakemake.params.options)
save_figure(fig, [snakemake.output.pdf, snakemake.output.png])
