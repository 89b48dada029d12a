"""--config overrides read as the schema's types (sgnoise.study.overrides), nested ones included, checked
against the real schemas and through the real command line (a dry run prints the effective run ids)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sgnoise.study.overrides import OverrideError, coerce_overrides
from workflow import REPO

SCHEMAS = {section: yaml.safe_load((REPO / "schemas" / f"{name}.schema.yaml").read_text())
           for section, name in ((None, "config"), ("alpha", "alpha"), ("sde", "sde"))}
CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())


def _override(text: str) -> dict:
    """What snakemake's --config parser hands over for ``key=value``: YAML base loader, all strings."""
    from snakemake.cli import parse_config

    return parse_config([text])


def _merged(text: str):
    from snakemake.utils import update_config

    overrides = _override(text)
    config = json.loads(json.dumps(CONFIG))
    update_config(config, overrides)
    return config, overrides


@pytest.mark.parametrize("text, path, expected", [
    ('noise={"max_coords": 100}', ("noise", "max_coords"), 100),
    ('noise={"max_coords": null}', ("noise", "max_coords"), None),
    ('train={"bundle_size": 1}', ("train", "bundle_size"), 1),
    ('train={"bundle_size": auto}', ("train", "bundle_size"), "auto"),
    ('train={"device": "cuda"}', ("train", "device"), "cuda"),
    ('train={"checkpoints": {"count": 4}}', ("train", "checkpoints", "count"), 4),
    ('figures={"learned_margin": 0.1}', ("figures", "learned_margin"), 0.1),
    ('noise={"test_set": true}', ("noise", "test_set"), True),
    ('alpha={"k1": {"policy": "fixed", "fixed": 2000}}', ("alpha", "k1", "fixed"), 2000),
    ('alpha={"methods": [mohammadi, hill]}', ("alpha", "methods"), ["mohammadi", "hill"]),
    ('noise={"pooled_k1_grid": [2, 10, 1000]}', ("noise", "pooled_k1_grid"), [2, 10, 1000]),
])
def test_nested_overrides_take_the_schema_types(text, path, expected):
    config, overrides = _merged(text)
    raw = config
    for key in path:
        raw = raw[key]
    coerced = coerce_overrides(config, overrides, SCHEMAS)
    value = coerced
    for key in path:
        value = value[key]
    assert value == expected and type(value) is type(expected), (raw, value)
    untouched = [k for k in CONFIG if k != path[0]]
    assert all(coerced[k] == CONFIG[k] for k in untouched)


def test_overrides_of_runs_lists_are_read_item_by_item():
    text = 'runs=[{"dataset": "mnist5k", "model": "fcn", "depth": 2, "width": [8, 16], "loss": "nll", ' \
           '"batch_size": 100, "lr": 0.1, "iterations": 20, "seed": 0}]'
    config, overrides = _merged(text)
    run = coerce_overrides(config, overrides, SCHEMAS)["runs"][0]
    assert run["width"] == [8, 16] and run["lr"] == 0.1 and run["iterations"] == 20 and run["seed"] == 0
    assert run["dataset"] == "mnist5k" and type(run["depth"]) is int


@pytest.mark.parametrize("text, words", [
    ('noise={"max_coords": abc}', ["noise.max_coords", "'abc'", "integer or null"]),
    ('train={"threads": 1.5}', ["train.threads", "'1.5'", "integer"]),
    ('alpha={"k1": {"fixed": many}}', ["alpha.k1.fixed", "'many'"]),
])
def test_unreadable_override_names_the_key(text, words):
    config, overrides = _merged(text)
    with pytest.raises(OverrideError) as error:
        coerce_overrides(config, overrides, SCHEMAS)
    for word in words:
        assert word in str(error.value)


def test_values_from_config_files_are_left_alone():
    # only the overridden keys are read; a string in the config itself is the schema validator's business
    config = json.loads(json.dumps(CONFIG))
    config["noise"]["max_coords"] = "5000"
    assert coerce_overrides(config, {"train": {"threads": "2"}}, SCHEMAS)["noise"]["max_coords"] == "5000"


def _dry_run(*config):
    return subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--config", *config],
                          cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.mark.workflow
def test_nested_override_from_the_command_line():
    ok = _dry_run('noise={"max_coords": 100}', 'train={"bundle_size": 1, "checkpoints": {"count": 3}}')
    assert ok.returncode == 0, ok.stdout[-2000:] + ok.stderr[-3000:]
    assert "train_bundle_" not in ok.stdout  # bundle_size 1: every run trains on its own
    bad = _dry_run('noise={"max_coords": lots}')
    assert bad.returncode != 0
    assert "config noise.max_coords: --config value 'lots' cannot be read as integer or null" in bad.stdout + bad.stderr
