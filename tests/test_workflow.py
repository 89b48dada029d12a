"""Workflow tests: lint, dry runs, the tiny study end to end, caching, and config errors."""

import math
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from workflow import REPO, planned_rules, snakemake, write_config

pytestmark = pytest.mark.workflow


def test_lint_prints_nothing(tmp_path):
    result = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=REPO, capture_output=True, text=True, timeout=300)
    output = "\n".join(line for line in (result.stdout + result.stderr).splitlines()
                       if not line.startswith("Using workflow specific profile")
                       and not line.startswith("Congratulations, your workflow is in a good condition"))
    assert result.returncode == 0, output
    assert output.strip() == "", output


def test_dry_run_default_config(tmp_path):
    result = snakemake(tmp_path, "-n", configfile=REPO / "config.yaml")
    rules = planned_rules(result.stdout)
    # 3 depths × 3 widths × 2 losses (bundled in pairs: bundle_size auto) + 3 batch sizes + 3 CNNs + ResNet + 2 ViTs
    bundles = {name: count for name, count in rules.items() if name.startswith("train_bundle_")}
    assert len(bundles) == 9 and rules["train"] == 9 and rules["alpha"] == 27
    assert rules["prepare_dataset"] == 1 and rules["all"] == 1
    assert not (tmp_path / "results").exists()


def test_every_figure_is_one_generated_rule_of_its_registered_function(tmp_path):
    """A dry run of the tiny study plans one job per figure of sgnoise.figures.FIGURES (rules/figures.smk
    generates the rules from its FIGURE_RULES table), each writing results/figures/<name>.pdf and .png."""
    from sgnoise.figures import FIGURES

    output = snakemake(tmp_path, "-n").stdout
    drawn = {}
    for rule, outputs in re.findall(r"^rule (\w+):\n(?:    .*\n)*?    output: (.*)$", output, re.M):
        if "results/figures/" in outputs:
            drawn[rule] = sorted(outputs.split(", "))
    assert len(FIGURES) == 23
    assert drawn == {name: [f"results/figures/{name}.pdf", f"results/figures/{name}.png"] for name in FIGURES}


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tiny")
    snakemake(workdir, "--cores", "2")
    return workdir


def test_tiny_study_outputs(tiny_study):
    runs = sorted(p.parent for p in (tiny_study / "results/runs").rglob("alpha.csv"))
    assert len(runs) == 7  # tests/config.tiny.yaml: 4 + 1 FCNs, 2 AlexNets
    for run in runs:
        alpha = pd.read_csv(run / "alpha.csv")
        pooled = alpha[(alpha["view"] == "pooled") & (alpha["method"] == "mohammadi")]
        assert len(pooled) == 4  # checkpoints.count = 4
        assert all(math.isfinite(a) and 0 < a <= 2.5 for a in pooled["alpha"])
        assert {"iteration", "method", "view", "alpha", "ci_low", "ci_high", "n_samples", "zero_fraction"} <= set(alpha.columns)
        assert (run / "noise.h5").stat().st_size > 0 and (run / "metrics.csv").exists()
    figures = tiny_study / "results/figures"
    for name in ["alpha_vs_width", "alpha_over_iterations"]:
        assert (figures / f"{name}.pdf").stat().st_size > 0 and (figures / f"{name}.png").stat().st_size > 0
    assert not list(tiny_study.rglob("*.partial")) and not list(tiny_study.rglob(".*.tmp*"))


def test_api_table_equals_the_workflows_alpha_csv(tiny_study):
    """sgnoise.api on the model and data of one run of the tiny study gives that run's alpha.csv:
    the same training, noise pass and α estimates (one code path)."""
    import numpy as np
    import yaml

    from sgnoise import api
    from sgnoise.models import build_model
    from sgnoise.training import load_run_data, seed_everything

    run = "mnist5k/fcn-d2-w8/nll/b500-lr0.1-it30/s0"
    workflow = pd.read_csv(tiny_study / "results/runs" / run / "alpha.csv")
    data = load_run_data(tiny_study / "resources/data/mnist5k.npz")
    config = yaml.safe_load((REPO / "tests/config.tiny.yaml").read_text())
    seed_everything(0)  # as rule train does before building the model
    model = build_model({"model": "fcn", "depth": 2, "width": 8}, tuple(data["train_x"].shape[1:]), data["num_classes"])
    result = api.train_and_measure(
        model, "nll", (data["train_x"], data["train_y"]), 500, 0.1, 30, test_data=(data["test_x"], data["test_y"]),
        checkpoints=sorted(workflow["iteration"].unique()), seed=0, max_coords=config["noise"]["max_coords"],
        random_minibatches=config["noise"]["random_minibatches"], noise_test_set=True, alpha=config["alpha"],
        progress=False)
    keys = ["iteration", "method", "view", "layer"]
    ours = result.alpha.sort_values(keys).reset_index(drop=True)
    theirs = workflow.sort_values(keys).reset_index(drop=True)
    assert len(ours) == len(theirs) > 50
    assert (ours[keys].fillna("").astype(str).values == theirs[keys].fillna("").astype(str).values).all()
    for column in ("alpha", "ci_low", "ci_high", "n_samples", "K1", "N", "null_median", "excess_fraction"):
        np.testing.assert_allclose(ours[column].astype(float), theirs[column].astype(float), rtol=1e-9, err_msg=column)
    assert (ours["ci_method"].astype(str) == theirs["ci_method"].astype(str)).all()
    metrics = pd.read_csv(tiny_study / "results/runs" / run / "metrics.csv")
    np.testing.assert_allclose(result.metrics["train_accuracy"], metrics["train_accuracy"])


def test_second_dry_run_has_nothing_to_do(tiny_study):
    result = snakemake(tiny_study, "-n")
    assert "Nothing to be done" in result.stdout + result.stderr


def test_changing_an_alpha_option_reruns_alpha_and_figures_only(tiny_study, tmp_path):
    config = write_config(tmp_path / "changed.yaml", alpha={"zeros": "keep"})
    rules = planned_rules(snakemake(tiny_study, "-n", configfile=config).stdout)
    assert "alpha" in rules and "alpha_vs_width" in rules
    assert "train" not in rules and "prepare_dataset" not in rules


def test_rebuilding_one_figure_reruns_nothing_upstream(tiny_study):
    (tiny_study / "results/figures/alpha_vs_width.png").unlink()
    rules = planned_rules(snakemake(tiny_study, "-n", "alpha_vs_width").stdout)
    assert rules == {"alpha_vs_width": 1}
    snakemake(tiny_study, "--cores", "1", "alpha_vs_width")
    assert (tiny_study / "results/figures/alpha_vs_width.png").exists()
    assert "Nothing to be done" in snakemake(tiny_study, "-n").stdout


@pytest.mark.parametrize("change,expected", [
    (dict(trian={"threads": 1}), "trian"),
    (dict(train={"threads": "many"}), "threads"),
    (dict(noise={"max_coords": 0}), "max_coords"),
    (dict(runs=[{"dataset": "mnist5k", "model": "fcn", "depth": 2, "width": -4, "loss": "nll",
                 "batch_size": 100, "lr": 0.1, "iterations": 10}]), "width"),
    (dict(runs=[{"dataset": "mnist5k", "model": "fcn", "depth": 2, "width": 4, "loss": "nll",
                 "batch_size": 5000, "lr": 0.1, "iterations": 10}]), "batch_size"),
    (dict(runs=[{"dataset": "mnist7k", "model": "fcn", "depth": 2, "width": 4, "loss": "nll",
                 "batch_size": 100, "lr": 0.1, "iterations": 10}]), "dataset"),
    (dict(train={"checkpoints": {"iterations": [5, 500]}}), "iterations"),
    # two different runs with one id (lr printed with 6 significant digits): refused, both entries named
    (dict(runs=[{"dataset": "mnist5k", "model": "fcn", "depth": 2, "width": 4, "loss": "nll",
                 "batch_size": 100, "lr": 0.1, "iterations": 10},
                {"dataset": "mnist5k", "model": "fcn", "depth": 2, "width": 4, "loss": "nll",
                 "batch_size": 100, "lr": 0.1000001, "iterations": 10}]), "runs[0] and runs[1] both give the run id"),
])
def test_bad_config_stops_before_any_job(tmp_path, change, expected):
    config = write_config(tmp_path / "bad.yaml", **change)
    result = snakemake(tmp_path, "--cores", "1", configfile=config, check=False)
    assert result.returncode != 0
    assert expected in result.stdout + result.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "resources").exists()


def test_report_contains_every_figure(tiny_study):
    snakemake(tiny_study, "--report", "report.html")
    html = (tiny_study / "report.html").read_text(errors="replace")
    for png in (tiny_study / "results/figures").glob("*.png"):
        assert png.name in html, f"{png.name} missing from the report"


def _browser():
    """Playwright's Chromium on the system binary, or a skip with the reason."""
    import shutil

    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.skip("no chromium binary (Debian package chromium): the report's browser check needs it")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright): the report's browser check needs it")
    return binary, sync_playwright


def test_report_in_a_real_browser(tiny_study):
    """The report opened by headless Chromium: no console errors, the landing table lists every run,
    every figure of results/figures is an entry under its category, each image loads (natural width >
    0) and each entry shows its caption."""
    binary, sync_playwright = _browser()
    report = tiny_study / "report.html"
    if not report.exists():
        snakemake(tiny_study, "--report", "report.html")
    runs = pd.read_csv(tiny_study / "results/tables/runs.csv")["run"].tolist()
    figures = sorted(p.name for p in (tiny_study / "results/figures").glob("*.png"))
    errors, seen = [], {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(report.as_uri())
        page.wait_for_selector("text=Runs")
        landing = page.inner_text("body")
        assert all(run in landing for run in runs), "the landing table lacks runs"
        categories = sorted({c for smk in (REPO / "rules").glob("*.smk")
                             for c in re.findall(r'category="([^"]+)"', smk.read_text())})
        assert categories and all(c in landing for c in categories), (categories, landing[:500])

        def open_category(category):  # from a fresh load: the report's views do not all keep a history
            page.goto(report.as_uri())
            page.get_by_text(category, exact=True).first.click()
            page.wait_for_selector("text=FILE")

        for category in categories:
            open_category(category)
            names = [t.strip() for t in page.locator("tr td:first-child").all_inner_texts() if t.strip().endswith(".png")]
            for name in names:
                page.locator("tr", has_text=name).locator("a[iconname=eye]").click()
                image = page.locator(f"img[src*='filename={Path(name).name}']")
                image.wait_for(timeout=10_000)
                width = image.evaluate("img => img.complete ? img.naturalWidth : "
                                       "new Promise(done => img.onload = () => done(img.naturalWidth))")
                open_category(category)
                page.locator("tr", has_text=name).locator("a[iconname=information-circle]").click()
                page.wait_for_selector("text=DESCRIPTION")
                caption = page.inner_text("body").split("DESCRIPTION", 1)[1].split("SIZE", 1)[0].strip()
                seen[Path(name).name] = (width, caption)
                open_category(category)
        browser.close()
    assert not errors, errors
    assert sorted(seen) == figures, set(figures) ^ set(seen)
    for name, (width, caption) in seen.items():
        assert width > 0, f"{name} did not load"
        assert len(caption) > 80, f"{name} has no caption: {caption!r}"


def test_no_figure_has_overlapping_labels(tiny_study):
    """Every figure kind of the tiny study re-rendered with the layout check on
    (sgnoise.figures.style.label_overlaps): no two tick labels of an axis, and no labels of two panels,
    overlap."""
    import json

    figures = sorted(p.with_suffix("").name for p in (tiny_study / "results/figures").glob("*.png"))
    pngs = [f"results/figures/{name}.png" for name in figures]
    snakemake(tiny_study, "--cores", "2", *pngs, "--forcerun", *pngs, env={"SGNOISE_LAYOUT_CHECK": "1"})
    reports = {}
    for name in figures:
        candidates = list((tiny_study / "results/figures").glob(f"{name}.*.layout.json"))
        assert candidates, f"{name}: no layout report (its script does not save through save_figure?)"
        reports[name] = json.loads(candidates[0].read_text())
    bad = {name: overlaps[:3] for name, overlaps in reports.items() if overlaps}
    assert not bad, bad
