"""A run that cannot learn (learning rate 1e-7) is flagged in the study tables and drawn apart in the α
figures, end to end: two real runs (sgnoise.training.single.train_run), their α tables from the noise dumps
(sgnoise.tail.alpha_table), the study tables (sgnoise.aggregate), then each α figure; the drawn lines'
data are checked against the table they came from."""

import numpy as np
import pandas as pd
import pytest

from sgnoise.tail import alpha_table
from sgnoise.figures import agreement as agreement_plots, grid, tail as tail_plots, training
from sgnoise.figures.style import is_not_learned_style
from sgnoise.aggregate import concat_run_tables, learned_flags, runs_table, with_learned_flags
from test_train import spec, synthetic_data

RUNS = {"toy/fcn-d3-w8/nll/b20-lr0.5-it60/s0": 0.5, "toy/fcn-d3-w8/nll/b20-lr1e-07-it60/s0": 1e-7}
FROZEN = "toy/fcn-d3-w8/nll/b20-lr1e-07-it60/s0"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    from sgnoise.training import train_run

    root = tmp_path_factory.mktemp("learned")
    status_paths, alpha, metrics, k1 = [], [], [], []
    data = synthetic_data(n=300, classes=10)  # ten classes: chance 0.1 as for mnist5k, the dataset named below
    for run, lr in RUNS.items():
        out = root / "results/runs" / run
        train_run(spec(run_id=run, lr=lr, iterations=60, checkpoints=[0, 10, 60], max_coords=None),
                  data, out / "noise.h5", out / "metrics.csv", out / "status.json")
        status_paths.append(out / "status.json")
        table, k1_table = alpha_table(out / "noise.h5", methods=("mohammadi",), views=("pooled",), return_k1=True)
        alpha.append(table.assign(run=run))
        k1.append(k1_table.assign(run=run))
        metrics.append(pd.read_csv(out / "metrics.csv").assign(run=run))
    meta = {run: dict(dataset="mnist5k", model=dict(model="fcn", depth=3, width=8), loss="nll", batch_size=20, lr=lr,
                      iterations=60, seed=0) for run, lr in RUNS.items()}
    runs = runs_table(meta, status_paths)
    metrics = pd.concat(metrics, ignore_index=True)
    runs = with_learned_flags(runs, learned_flags(metrics, runs, 0.05))
    alpha = runs.merge(pd.concat(alpha, ignore_index=True), on="run")
    return dict(runs=runs, alpha=alpha, metrics=runs.merge(metrics, on="run"),
                k1=runs.merge(pd.concat(k1, ignore_index=True), on="run"))


def test_the_frozen_run_is_flagged_in_every_table(study):
    learned = study["runs"].set_index("run")["learned"]
    assert learned[FROZEN] == False and learned[next(iter(RUNS))] == True  # noqa: E712 (nullable booleans)
    for table in ("alpha", "metrics", "k1"):
        flags = study[table].groupby("run")["learned"].first()
        assert flags[FROZEN] == False, table  # noqa: E712


def _lines(fig):
    return [line for ax in fig.axes for line in ax.get_lines() if len(line.get_xdata())]


def _alpha_of(alpha, run, iterations=None):
    rows = alpha[(alpha["run"] == run) & (alpha["view"] == "pooled") & (alpha["method"] == "mohammadi")]
    rows = rows.sort_values("iteration")
    return rows if iterations is None else rows[rows["iteration"].isin(iterations)]


def test_alpha_over_iterations_draws_the_frozen_run_apart_with_its_own_numbers(study):
    fig = training.alpha_over_iterations(study["alpha"], study["metrics"], study["runs"], learned_margin=0.05)
    apart = [line for line in _lines(fig) if is_not_learned_style(line)]
    assert len(apart) == 1
    frozen = _alpha_of(study["alpha"], FROZEN)
    np.testing.assert_allclose(apart[0].get_ydata(), frozen["alpha"])
    np.testing.assert_allclose(apart[0].get_xdata(), frozen["iteration"] + 1)
    learned = _alpha_of(study["alpha"], next(iter(RUNS)))
    drawn = [line for line in _lines(fig) if not is_not_learned_style(line) and len(line.get_ydata()) == len(learned)
             and np.allclose(line.get_ydata(), learned["alpha"])]
    assert len(drawn) == 1  # the learned run in colour, at its own values
    assert any("did not learn" in text.get_text() for legend in fig.legends for text in legend.get_texts())


def test_width_figure_keeps_the_frozen_run_out_of_the_mean(study):
    alpha = study["alpha"]
    fig = grid.alpha_vs_width(alpha, study["runs"], learned_margin=0.05)
    apart = [line for line in _lines(fig) if is_not_learned_style(line)]
    assert len(apart) == 1
    last = _alpha_of(alpha, FROZEN)["alpha"].iloc[-1]
    assert apart[0].get_ydata() == pytest.approx([last])
    coloured = [line for line in _lines(fig) if not is_not_learned_style(line) and line.get_linestyle() != ":"]
    learned_last = _alpha_of(alpha, next(iter(RUNS)))["alpha"].iloc[-1]
    assert [list(line.get_ydata()) for line in coloured] == [pytest.approx([learned_last])]


def test_views_and_k1_figures_title_and_draw_the_frozen_run_apart(study):
    fig = tail_plots.alpha_views_figure(study["alpha"], learned_margin=0.05)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles[-1].replace("\n", "/") == f"{FROZEN} (did not learn)" and "did not learn" not in titles[0]
    frozen_ax = [ax for ax in fig.axes if ax.get_title().replace("\n", "/").startswith(FROZEN)][0]
    assert all(is_not_learned_style(line) for line in frozen_ax.get_lines() if line.get_linestyle() != ":")
    fig = agreement_plots.alpha_vs_k1(study["k1"], study["runs"], example_runs=list(RUNS), learned_margin=0.05)
    by_gid = {line.get_gid(): line for line in fig.axes[0].get_lines() if line.get_gid()}
    assert is_not_learned_style(by_gid[f"k1:{FROZEN}"]) and not is_not_learned_style(by_gid[f"k1:{next(iter(RUNS))}"])
    k1 = study["k1"]
    frozen = k1[(k1["run"] == FROZEN) & (k1["iteration"] == 60) & (k1["view"] == "pooled")].sort_values("k1")
    frozen = frozen[np.isfinite(frozen["alpha"])]
    np.testing.assert_allclose(by_gid[f"k1:{FROZEN}"].get_ydata(), frozen["alpha"])
