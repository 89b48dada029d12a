"""The tables of the figure rules (sgnoise.figures._tables): a rule's inputs read as tables, and the
hill_plot table's handling of runs that did not finish ok."""

import json

import pandas as pd

from sgnoise.aggregate import hill_plot_curves
from sgnoise.figures import FIGURES, read_tables
from sgnoise.tail import HILL_PLOT_COLUMNS


def _csv(path, frame):
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return str(path)


def test_inputs_are_read_as_one_table_per_run_file_list_or_path(tmp_path):
    runs = [f"mnist5k/fcn-d2-w8/nll/b{b}-lr0.1-it30/s0" for b in (200, 500)]
    norms = [_csv(tmp_path / "results/runs" / run / "noise_norms.csv", pd.DataFrame({"norm": [1.0 + i]}))
             for i, run in enumerate(runs)]
    parts = [_csv(tmp_path / "iterates/a.csv", pd.DataFrame({"x": [1, 2]})),
             _csv(tmp_path / "iterates/b.csv", pd.DataFrame(columns=["x"])),
             _csv(tmp_path / "iterates/c.csv", pd.DataFrame({"x": [3]}))]
    alpha = _csv(tmp_path / "alpha.csv", pd.DataFrame({"alpha": [1.5], "run": ["from the table"]}))
    tables = read_tables({"norms": norms, "one": norms[0], "parts": parts, "alpha": alpha}, per_run=["norms", "one"])
    assert tables["norms"].to_dict("list") == {"norm": [1.0, 2.0], "run": runs}
    assert tables["one"].to_dict("list") == {"norm": [1.0], "run": runs[:1]}  # one per-run file given as a path
    assert tables["parts"].to_dict("list") == {"x": [1, 2, 3]}  # as they are: no run column; the empty file left out
    assert tables["parts"]["x"].dtype == "int64"
    assert tables["alpha"].to_dict("list") == {"alpha": [1.5], "run": ["from the table"]}


def test_hill_plot_table_leaves_out_runs_that_did_not_finish_ok(tmp_path, capsys):
    run = "mnist5k/fcn-d2-w8/nll/b200-lr10-it30/s0"
    status = tmp_path / "results/runs" / run / "status.json"
    status.parent.mkdir(parents=True)
    status.write_text(json.dumps({"status": "diverged"}))
    curves = hill_plot_curves([str(status.parent / "noise.h5")], [str(status)])  # the dump is not opened
    assert curves.empty and list(curves.columns) == ["run", *HILL_PLOT_COLUMNS]
    assert f"{run}: not drawn (status not ok)" in capsys.readouterr().err
    assert FIGURES["hill_plot"](curves=curves, alpha=None).axes[0].texts[0].get_text() == "no example run finished ok"
