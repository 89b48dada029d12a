"""The `learned` flag of the study tables (sgnoise.aggregate.learned_flags) and the tables rule's script
writing it into runs.csv, alpha.csv, metrics.csv and alpha_k1.csv (run without snakemake)."""

import json
import runpy
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from sgnoise.aggregate import (concat_run_tables, last_checkpoint, learned_flags, runs_table, with_learned_flags)

REPO = Path(__file__).resolve().parents[1]


def _runs(**status):
    names = ["chance", "near", "good", "diverged", "no_metrics", "cifar100"]
    return pd.DataFrame(dict(run=names, dataset=["mnist5k"] * 5 + ["cifar100"],
                             status=[status.get(n, "ok") for n in names]))


def _metrics():
    rows = []
    # (run, [(iteration, train_accuracy), ...]) — out of iteration order and with NaN last rows on purpose
    for run, accuracies in [("chance", [(10, 0.1), (0, 0.3)]),          # last (by iteration) at chance 0.1
                            ("near", [(0, 0.1), (10, 0.14)]),            # 0.14 ≤ 0.1 + 0.05
                            ("good", [(0, 0.1), (5, 0.9), (10, np.nan)]),  # last finite: 0.9
                            ("diverged", [(0, 0.1), (5, 0.95), (6, np.nan)]),
                            ("cifar100", [(0, 0.01), (10, 0.2)])]:       # chance 1/100
        rows += [dict(run=run, iteration=i, train_accuracy=a, test_accuracy=a) for i, a in accuracies]
    return pd.DataFrame(rows)


def test_learned_flags_chance_margin_divergence_and_missing_metrics():
    flags = learned_flags(_metrics(), _runs(diverged="diverged"), 0.05).set_index("run")
    assert list(flags.columns) == ["final_train_accuracy", "chance_accuracy", "learned"]
    assert flags.loc["chance", "final_train_accuracy"] == pytest.approx(0.1)
    assert flags.loc["near", "final_train_accuracy"] == pytest.approx(0.14)
    assert flags.loc["good", "final_train_accuracy"] == pytest.approx(0.9)
    assert flags.loc["chance", "chance_accuracy"] == pytest.approx(0.1)
    assert flags.loc["cifar100", "chance_accuracy"] == pytest.approx(0.01)
    learned = flags["learned"]
    assert learned["chance"] == False  # noqa: E712  (0.1 = chance)
    assert learned["near"] == False  # noqa: E712  (0.14 is within 0.05 of chance)
    assert learned["good"] == True  # noqa: E712
    assert learned["diverged"] == False  # noqa: E712  (0.95 before it diverged: still not learned)
    assert learned["cifar100"] == True  # noqa: E712
    assert pd.isna(learned["no_metrics"]) and np.isnan(flags.loc["no_metrics", "final_train_accuracy"])
    assert str(learned.dtype) == "boolean"
    # the margin is a parameter: with 0.03, 0.14 is above chance + margin
    assert learned_flags(_metrics(), _runs(), 0.03).set_index("run").loc["near", "learned"] == True  # noqa: E712
    # and the 0.1 run is above chance by 0 only: not learned even with margin 0
    assert learned_flags(_metrics(), _runs(), 0.0).set_index("run").loc["chance", "learned"] == False  # noqa: E712
    with pytest.raises(ValueError, match="margin"):
        learned_flags(_metrics(), _runs(), 1.5)


def test_learned_on_every_row_of_the_study_tables_but_accuracy_only_in_runs():
    runs = _runs(diverged="diverged").assign(model="fcn", loss="nll", diverged_at=np.nan)
    runs = with_learned_flags(runs, learned_flags(_metrics(), runs, 0.05))
    assert {"learned", "final_train_accuracy", "chance_accuracy"} <= set(runs.columns)
    assert list(runs.columns).index("learned") < list(runs.columns).index("final_train_accuracy")


def _write_study(root: Path):
    """Per-run files of three runs as the training and α rules write them, under root/results/runs."""
    spec = dict(dataset="mnist5k", loss="nll", batch_size=100, lr=0.1, iterations=10, seed=0)
    specs = {f"mnist5k/fcn-d2-w{w}/nll/b100-lr0.1-it10/s0": dict(spec, model=dict(model="fcn", depth=2, width=w))
             for w in (8, 16, 32)}
    accuracy = dict(zip(specs, [0.9, 0.12, 0.8]))
    status = dict(zip(specs, ["ok", "ok", "diverged"]))
    for run in specs:
        folder = root / "results/runs" / run
        folder.mkdir(parents=True)
        # status.json says learned true for every run (a stale value of training time): the tables ignore it
        (folder / "status.json").write_text(json.dumps(dict(status=status[run], diverged_at=6 if status[run] != "ok" else None,
                                                            learned=True)))
        pd.DataFrame(dict(iteration=[0, 10], step_size=0.1, train_loss=1.0, train_accuracy=[0.1, accuracy[run]],
                          test_loss=1.0, test_accuracy=0.1)).to_csv(folder / "metrics.csv", index=False)
        pd.DataFrame(dict(iteration=[0, 10], method="mohammadi", view="pooled", layer="", alpha=[1.0, 1.5],
                          ci_low=0.9, ci_high=1.6, run_status=status[run])).to_csv(folder / "alpha.csv", index=False)
        pd.DataFrame(dict(iteration=[0, 10], method="mohammadi", column=0, alpha=[1.9, 2.0])).to_csv(
            folder / "alpha_per_parameter.csv", index=False)
        k1 = [2, 5, 10]
        pd.DataFrame(dict(iteration=[0] * 3 + [10] * 3, view="pooled", k1=k1 * 2, alpha=np.linspace(1, 1.5, 6),
                          ci_low=0.5, ci_high=2.0, ci_method="analytic", n_samples=100, n_blocks=[50, 20, 10] * 2,
                          k1_reference=10)).to_csv(folder / "alpha_k1.csv", index=False)
    return specs


def test_tables_script_writes_learned_and_the_last_checkpoint_of_alpha_k1(tmp_path, monkeypatch):
    specs = _write_study(tmp_path)
    monkeypatch.chdir(tmp_path)
    files = lambda name: [f"results/runs/{run}/{name}" for run in specs]  # noqa: E731
    outputs = {name: f"results/tables/{name}.csv" for name in ("alpha", "per_parameter", "metrics", "runs", "phases", "alpha_k1")}
    outputs.update(overview="results/tables/runs_overview.csv", report_runs="results/report/runs.csv",
                   excess="results/tables/excess_heavy_tail.csv", agreement="results/tables/estimator_agreement.csv")
    (tmp_path / "results/tables").mkdir()
    (tmp_path / "results/report").mkdir()
    class Named(dict):  # snakemake's named lists: .name and .items()
        __getattr__ = dict.__getitem__

    snakemake = SimpleNamespace(
        input=Named(alpha=files("alpha.csv"), per_parameter=files("alpha_per_parameter.csv"),
                              metrics=files("metrics.csv"), status=files("status.json"), alpha_k1=files("alpha_k1.csv")),
        output=Named(**outputs), log=[str(tmp_path / "tables.log")],
        params=SimpleNamespace(runs=specs, method="mohammadi", phase_min_jump=0.05, learned_margin=0.05,
                               alpha={"methods": ["mohammadi"], "k1": {"fixed": 10, "grid": [2, 5, 10]}}))
    import sys

    stderr = sys.stderr
    try:
        runpy.run_path(str(REPO / "scripts/tables.py"), init_globals=dict(snakemake=snakemake))
    finally:
        sys.stderr.close()
        sys.stderr = stderr
    w8, w16, w32 = specs
    runs = pd.read_csv(tmp_path / outputs["runs"]).set_index("run")
    assert runs.loc[w8, "learned"] == True and runs.loc[w16, "learned"] == False  # noqa: E712
    assert runs.loc[w32, "learned"] == False  # noqa: E712  (diverged, though status.json said learned)
    assert runs.loc[w16, "final_train_accuracy"] == pytest.approx(0.12)
    for name in ("alpha", "metrics", "alpha_k1", "per_parameter"):
        table = pd.read_csv(tmp_path / outputs[name])
        assert "learned" in table and table["learned"].notna().all(), name
        assert (table["learned"] == table["run"].map(runs["learned"])).all(), name
        assert "final_train_accuracy" not in table, name
    alpha_k1 = pd.read_csv(tmp_path / outputs["alpha_k1"])
    assert set(alpha_k1["iteration"]) == {10} and len(alpha_k1) == 9
    assert {"iteration", "view", "k1", "alpha", "ci_low", "ci_high", "n_samples", "n_blocks", "k1_reference",
            "dataset", "model", "width"} <= set(alpha_k1.columns)
    assert "3 runs, 2 did not learn" in (tmp_path / "tables.log").read_text()
    agreement = pd.read_csv(tmp_path / outputs["agreement"])  # every checkpoint (alpha_k1's first one too)
    assert {"paper", "k1_reference", "k1_fixed", "k1_median", "sys_low", "sys_high", "learned"} <= set(agreement.columns)
    assert sorted(set(agreement["iteration"])) == [0, 10]


def test_runs_table_does_not_read_learned_from_status(tmp_path):
    specs = _write_study(tmp_path)
    runs = runs_table(specs, sorted(tmp_path.rglob("status.json")))
    assert "learned" not in runs.columns
    metrics = concat_run_tables(sorted(tmp_path.rglob("metrics.csv")), runs)
    flagged = with_learned_flags(runs, learned_flags(metrics, runs, 0.05))
    assert flagged["learned"].tolist() == [True, False, False]
    assert last_checkpoint(pd.DataFrame(dict(run=["a", "a", "b"], iteration=[0, 5, 0]))).values.tolist() == [["a", 5], ["b", 0]]
