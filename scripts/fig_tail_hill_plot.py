import sys

sys.stderr = open(snakemake.log[0], "w")

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402

from sgnoise.atomic import write_csv_atomic  # noqa: E402
from sgnoise.figures.agreement import hill_plot_figure  # noqa: E402
from sgnoise.figures.style import save_figure  # noqa: E402
from sgnoise.aggregate import run_of_path  # noqa: E402
from sgnoise.tail import HILL_PLOT_COLUMNS, hill_plot_table  # noqa: E402

curves, alpha = [], []
for noise, status, table in zip(snakemake.input.noise, snakemake.input.status, snakemake.input.alpha):
    run = run_of_path(noise)
    if json.loads(Path(status).read_text())["status"] != "ok":  # diverged: no finite noise to plot
        print(f"{run}: not drawn (status not ok)", file=sys.stderr)
        continue
    curves.append(hill_plot_table(noise, points=snakemake.params.points, zeros=snakemake.params.zeros).assign(run=run))
    alpha.append(pd.read_csv(table).assign(run=run))
curves = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=[*HILL_PLOT_COLUMNS, "run"])
write_csv_atomic(curves[["run", *HILL_PLOT_COLUMNS]], snakemake.output.table, float_format="%.6g")
save_figure(hill_plot_figure(curves, pd.concat(alpha, ignore_index=True) if alpha else None),
            [snakemake.output.pdf, snakemake.output.png])
