"""configs/paper-smoke.yaml end to end: the real download rule against a loopback mirror serving
small archives in the real MNIST / CIFAR formats, every model family, every figure file."""

import pandas as pd
import pytest

from fakedata import serve_directory, write_fake_archives
from workflow import REPO, planned_rules, snakemake, write_config

pytestmark = pytest.mark.workflow


def test_paper_config_dry_run_builds_the_whole_grid(tmp_path):
    rules = planned_rules(snakemake(tmp_path, "-n", configfile=REPO / "configs/paper.yaml", timeout=300).stdout)
    assert rules["train"] >= 972 + 36 + 12 + 30 + 16 + 16  # … + the ResNets and the ViTs (SGD, Adam)
    assert rules["download_dataset"] == 3 and rules["alpha"] == rules["train"]


def test_paper_smoke_end_to_end(tmp_path):
    mirror = tmp_path / "mirror"
    write_fake_archives(mirror, n_train=500, n_test=100)
    workdir = tmp_path / "work"
    workdir.mkdir()
    with serve_directory(mirror) as server:
        config = write_config(tmp_path / "smoke.yaml", base=REPO / "configs/paper-smoke.yaml",
                              data={"mirror": server.url, "checksums": str(mirror / "checksums.json")})
        snakemake(workdir, "--cores", "2", configfile=config, timeout=900)
        assert any("train-images-idx3-ubyte.gz" in path for path in server.requests)
    # the run built `all`, i.e. every figure of every kind; check the paper's kinds explicitly too
    figures = {path.stem for path in (workdir / "results/figures").glob("*.png")}
    assert {"alpha_vs_width", "alpha_vs_depth", "alpha_vs_batch_size", "alpha_vs_scale", "alpha_over_iterations",
            "noise_norm_histogram", "coordinate_distribution"} <= figures
    assert {path.stem for path in (workdir / "results/figures").glob("*.pdf")} == figures
    assert "Nothing to be done" in snakemake(workdir, "-n", configfile=config).stdout
    runs = pd.read_csv(workdir / "results/tables/runs.csv")
    assert set(runs["dataset"]) == {"mnist", "cifar10", "cifar100"} and set(runs["model"]) == {"fcn", "alexnet", "vgg"}
    assert (runs["status"] == "ok").all()
