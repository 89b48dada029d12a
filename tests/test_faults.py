"""Faults (issue 7): every bad config stops before any job with a message naming the key; damaged
dataset files and corrupt or foreign noise dumps stop the job that reads them with a message naming
the file; a diverging run is recorded and the rest of the workflow completes; --cores 1 and
--cores 2 give identical numbers."""

import contextlib
import io
import json
import os
import shutil

import h5py
import numpy as np
import pandas as pd
import pytest

from sgnoise.noise.dump import NoiseDump, NoiseDumpError, NoiseDumpWriter
from test_resume import assert_same_h5, leftover_temporaries
from workflow import REPO, snakemake, write_config

RUN = dict(dataset="mnist5k", model="fcn", depth=4, width=64, loss="nll", batch_size=200, lr=0.1, iterations=30, seed=0)
# lr 10 makes this network's loss overflow to inf/NaN within a few steps (issue 7's example)
DIVERGING = "mnist5k/fcn-d4-w64/nll/b200-lr10-it30/s0"
HEALTHY = "mnist5k/fcn-d4-w64/nll/b200-lr0.1-it30/s0"
BASE = dict(study="faults", runs=[dict(RUN, lr=[0.1, 10])],
            train={"threads": 1, "checkpoints": {"count": 4}}, noise={"max_coords": 2000},
            alpha={"methods": ["mohammadi"], "views": ["pooled"]}, sde={})
FIGURES = ["results/figures/alpha_vs_width.png", "results/figures/alpha_over_iterations.png"]
TARGETS = ["results/tables/alpha.csv", *FIGURES]


def fault_config(path, **changes):
    """BASE with top-level keys replaced (dict values merged one level deep), written as YAML."""
    return write_config(path, base=BASE, **changes)


def snakemake_in_process(workdir, configfile, *args) -> tuple[int, str]:
    """Snakemake's command line run inside this process: (exit code, everything it printed). The torch
    import and Python start-up are paid once for all the config cases instead of once each."""
    from snakemake.cli import main

    output, cwd, code = io.StringIO(), os.getcwd(), 0
    try:
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            main(["-s", str(REPO / "Snakefile"), "--directory", str(workdir), "--configfile", str(configfile), *map(str, args)])
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else 1
    finally:
        os.chdir(cwd)
    return code, output.getvalue()


@pytest.fixture(scope="module")
def prepared_dataset(tmp_path_factory):
    from sgnoise.data import prepare_mnist5k, save_prepared

    path = tmp_path_factory.mktemp("data") / "mnist5k.npz"
    save_prepared(prepare_mnist5k(seed=0), path)
    return path


def new_workdir(path, prepared_dataset, **changes):
    (path / "resources/data").mkdir(parents=True)
    shutil.copyfile(prepared_dataset, path / "resources/data/mnist5k.npz")
    return path, fault_config(path / "config.yaml", **changes)


def bad_run(**changes):
    return [dict(RUN, **changes)]


# ----------------------------------------------------------------------------- bad config: before any job

BAD_CONFIGS = {
    "unknown key": (dict(trian={"threads": 1}), ["trian"]),
    "unknown nested key": (dict(train={"state_interval": 5}), ["state_interval"]),
    "wrong type": (dict(train={"threads": "many"}), ["threads", "'many' is not of type 'integer'"]),
    "out of range": (dict(train={"state_interval_s": 0}), ["state_interval_s", "minimum"]),
    "out of range in a run": (dict(runs=bad_run(lr=-0.1)), ["lr", "-0.1"]),
    "unknown dataset": (dict(runs=bad_run(dataset="mnist7k")), ["mnist7k", "dataset", "mnist5k"]),
    "unknown model": (dict(runs=bad_run(model="mlp")), ["mlp", "model", "fcn"]),
    "unknown estimator": (dict(alpha={"methods": ["hills"]}), ["hills", "methods", "mohammadi"]),
    "batch larger than the training set": (dict(runs=bad_run(batch_size=5000)), ["batch_size=5000", "4000"]),
    "checkpoint beyond the last iteration": (dict(train={"checkpoints": {"iterations": [5, 500]}}), ["iterations", "500"]),
    "max_coords below 1": (dict(noise={"max_coords": 0}), ["max_coords", "minimum"]),
}


@pytest.mark.workflow
@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_config_stops_before_any_job_naming_the_key(tmp_path, case):
    changes, expected = BAD_CONFIGS[case]
    code, output = snakemake_in_process(tmp_path, fault_config(tmp_path / "bad.yaml", **changes), "--cores", "1")
    assert code != 0, output
    for text in expected:
        assert text in output, f"{case}: {text!r} missing from\n{output[-3000:]}"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != ".snakemake") == ["bad.yaml"]  # no job ran


@pytest.mark.workflow
def test_bad_config_exits_non_zero_from_the_real_command_line(tmp_path):
    config = fault_config(tmp_path / "bad.yaml", alpha={"methods": ["hills"]})
    result = snakemake(tmp_path, "--cores", "1", configfile=config, check=False)
    assert result.returncode != 0 and "hills" in result.stdout + result.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "logs").exists()


# ----------------------------------------------------------------------------- damaged inputs: the reading job stops


def test_flipped_bit_in_a_noise_dump_names_file_and_checkpoint(tmp_path):
    path = tmp_path / "noise.h5"
    writer = NoiseDumpWriter(path, columns=np.arange(50), layers=[("layers.0.weight", 0, 50)], attrs={}, checksum=True)
    for iteration in (0, 5):
        writer.add_checkpoint(iteration, np.full((4, 50), 1.25 + iteration, np.float32), np.zeros(50), {})
    writer.close()
    data = bytearray(path.read_bytes())
    data[data.find(np.float32(6.25).tobytes() * 4) + 1] ^= 0x10  # one bit of checkpoint 5's noise
    path.write_bytes(bytes(data))
    with NoiseDump(path) as dump:
        assert dump.noise_array(0)[0, 0] == np.float32(1.25)
        with pytest.raises(NoiseDumpError, match=r"noise.h5, checkpoint 5: cannot read 'noise'"):
            dump.noise_array(5)


@pytest.mark.workflow
def test_dataset_file_with_a_wrong_checksum_stops_training_naming_the_file(tmp_path, prepared_dataset):
    workdir, config = new_workdir(tmp_path, prepared_dataset, runs=[RUN])
    dataset = workdir / "resources/data/mnist5k.npz"
    data = bytearray(dataset.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the training images: the zip member's CRC-32 no longer matches
    dataset.write_bytes(bytes(data))
    result = snakemake(workdir, "--cores", "1", f"results/runs/{HEALTHY}/noise.h5", configfile=config, check=False)
    assert result.returncode != 0 and "Error in rule train" in result.stdout + result.stderr
    log = (workdir / "logs/train" / f"{HEALTHY}.log").read_text()
    assert "resources/data/mnist5k.npz is damaged" in log and "CRC-32" in log and "Traceback" not in log, log
    assert not (workdir / "results/runs").exists() or not any((workdir / "results/runs").rglob("*.h5"))


# ----------------------------------------------------------------------------- divergence, corrupt dumps, --cores


@pytest.fixture(scope="module")
def divergence_study(tmp_path_factory, prepared_dataset):
    workdir, config = new_workdir(tmp_path_factory.mktemp("divergence"), prepared_dataset)
    snakemake(workdir, "--cores", "2", *TARGETS, configfile=config)
    return workdir, config


@pytest.mark.workflow
def test_diverging_run_is_recorded_and_the_rest_completes(divergence_study):
    workdir, _ = divergence_study
    status = json.loads((workdir / "results/runs" / DIVERGING / "status.json").read_text())
    assert status["status"] == "diverged" and status["diverged_at"] > 0
    k = status["diverged_at"]
    metrics = pd.read_csv(workdir / "results/runs" / DIVERGING / "metrics.csv")
    assert metrics["iteration"].iloc[-1] == k and not np.isfinite(metrics["train_loss"].iloc[-1])
    runs = pd.read_csv(workdir / "results/tables/runs.csv").set_index("run")
    assert runs.loc[DIVERGING, "status"] == "diverged" and runs.loc[DIVERGING, "diverged_at"] == k
    assert runs.loc[HEALTHY, "status"] == "ok"
    alpha = pd.read_csv(workdir / "results/tables/alpha.csv")
    marked = alpha[alpha["run"] == DIVERGING]
    assert len(marked) and (marked["run_status"] == "diverged").all() and (marked["diverged_at"] == k).all()
    assert marked["alpha"].isna().all()  # skipped
    healthy = alpha[alpha["run"] == HEALTHY]
    assert (healthy["run_status"] == "ok").all() and healthy["alpha"].notna().all() and len(healthy) == 4
    for figure in FIGURES:
        assert (workdir / figure).stat().st_size > 0 and (workdir / figure).with_suffix(".pdf").stat().st_size > 0
    assert leftover_temporaries(workdir) == [] and not (workdir / "results/state").exists()


def test_unestimated_alpha_rows_and_run_status_marks():
    from sgnoise.tail._table_settings import mark_run_status, unestimated_alpha_table

    columns = ["iteration", "method", "view", "layer", "alpha", "n_samples"]
    table = unestimated_alpha_table([0, 5], ["mohammadi", "hill"], ["pooled"], columns)
    assert list(table.columns) == columns and table["alpha"].isna().all() and table["n_samples"].isna().all()
    assert table[["iteration", "method"]].values.tolist() == [[0, "mohammadi"], [0, "hill"], [5, "mohammadi"], [5, "hill"]]
    marked = mark_run_status(table, {"status": "diverged", "diverged_at": 6})
    assert (marked["run_status"] == "diverged").all() and (marked["diverged_at"] == 6).all()
    healthy = mark_run_status(table, {"status": "ok", "diverged_at": None})
    assert (healthy["run_status"] == "ok").all() and healthy["diverged_at"].isna().all()
    assert "run_status" not in table  # the input is left as it was


def test_configure_determinism_sets_the_thread_count_from_the_config():
    import torch

    from sgnoise.training import configure_determinism

    before = torch.get_num_threads()
    try:
        configure_determinism("cpu", 3)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_figures_leave_out_diverged_runs_with_a_note():
    import matplotlib.pyplot as plt

    from sgnoise.figures.grid import alpha_vs_width
    from sgnoise.figures.style import missing_runs_note
    from sgnoise.figures.training import alpha_over_iterations

    runs = pd.DataFrame(dict(run=["a", "b"], status=["ok", "diverged"], diverged_at=[np.nan, 6.0]))
    assert missing_runs_note(runs) == "not shown: b diverged at iteration 6"
    assert missing_runs_note(runs.iloc[:1]) == ""
    common = dict(dataset="mnist5k", model="fcn", depth=2, loss="nll", batch_size=200, method="mohammadi", view="pooled")
    alpha = pd.DataFrame([dict(common, run=r, width=w, iteration=i, alpha=1.5 if r == "a" else 0.3)
                          for r, w in (("a", 8), ("b", 16)) for i in (0, 10)])
    metrics = pd.DataFrame([dict(common, run=r, width=w, iteration=i, train_accuracy=0.5, test_accuracy=0.4)
                            for r, w in (("a", 8), ("b", 16)) for i in (0, 10)])
    for fig in (alpha_vs_width(alpha, runs), alpha_over_iterations(alpha, metrics, runs)):
        texts = [t.get_text() for t in fig.texts]
        assert "not shown: b diverged at iteration 6" in texts
        plotted = {round(y, 6) for ax in fig.axes for line in ax.get_lines() for y in np.atleast_1d(line.get_ydata())}
        assert 0.3 not in plotted and 1.5 in plotted  # the diverged run's values are not drawn
        plt.close(fig)
    only_diverged = runs.assign(status="diverged")
    fig = alpha_over_iterations(alpha, metrics, only_diverged)
    assert any(t.get_text().startswith("not shown: a diverged") for t in fig.texts)
    plt.close(fig)


@pytest.mark.workflow
def test_cores_1_and_cores_2_give_identical_numbers(divergence_study, tmp_path, prepared_dataset):
    reference, _ = divergence_study
    workdir, config = new_workdir(tmp_path, prepared_dataset)
    snakemake(workdir, "--cores", "1", *(f"results/runs/{run}/alpha.csv" for run in (HEALTHY, DIVERGING)), configfile=config)
    for run in (HEALTHY, DIVERGING):
        assert_same_h5(workdir / "results/runs" / run / "noise.h5", reference / "results/runs" / run / "noise.h5")
        for name in ("metrics.csv", "status.json", "alpha.csv"):
            assert (workdir / "results/runs" / run / name).read_bytes() == (reference / "results/runs" / run / name).read_bytes()


@pytest.mark.workflow
def test_corrupt_or_foreign_noise_dumps_stop_alpha_naming_the_file_and_regenerate(divergence_study, tmp_path):
    workdir, config = divergence_study
    healthy, diverging = (workdir / "results/runs" / run / "noise.h5" for run in (HEALTHY, DIVERGING))
    originals = {path: path.read_bytes() for path in (healthy, diverging)}
    saved_original = tmp_path / "healthy.h5"
    saved_original.write_bytes(originals[healthy])
    healthy.write_bytes(originals[healthy][: len(originals[healthy]) // 2])  # e.g. a disk-full copy
    with h5py.File(diverging, "a") as file:
        file.attrs["format_version"] = 99  # a dump of a future layout
    targets = [f"results/runs/{run}/alpha.csv" for run in (HEALTHY, DIVERGING)]
    result = snakemake(workdir, "--cores", "2", "--keep-going", *targets, configfile=config, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and output.count("Error in rule alpha") == 2, output[-3000:]
    healthy_log = (workdir / "logs/alpha" / f"{HEALTHY}.log").read_text()
    assert f"noise dump results/runs/{HEALTHY}/noise.h5: not a readable HDF5 file" in healthy_log, healthy_log
    assert "delete it and rerun" in healthy_log and "Traceback" not in healthy_log
    diverging_log = (workdir / "logs/alpha" / f"{DIVERGING}.log").read_text()
    assert f"results/runs/{DIVERGING}/noise.h5: format version 99 is not supported" in diverging_log, diverging_log
    # the recovery the message asks for: delete the file, rerun the same command
    healthy.unlink()
    diverging.write_bytes(originals[diverging])
    snakemake(workdir, "--cores", "2", *targets, configfile=config)
    assert_same_h5(healthy, saved_original)  # regenerated, identical
    alpha = pd.read_csv(workdir / "results/runs" / HEALTHY / "alpha.csv")
    assert alpha["alpha"].notna().all() and len(alpha) == 4
    assert leftover_temporaries(workdir) == []
