"""The study grid (sgnoise.study.grid) in-process, without running snakemake: expansion, run ids, specs,
bundles, example runs, and the config checks, each against a brute-force count or a literal expectation."""

import copy
import itertools
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from sgnoise.study.checks import ConfigError, check_across_keys, expected
from sgnoise.study.grid import build_study, bundle_rule_name, expand_grid, run_id
from sgnoise.study.naming import bundle_key
from sgnoise.study.spec import RunSpec

REPO = Path(__file__).resolve().parents[1]


def validated(path=REPO / "config.yaml", **changes):
    """A config file with the schemas' defaults filled in (what the workflow's common.smk does first)."""
    config = yaml.safe_load(Path(path).read_text())
    config.update(copy.deepcopy(changes))
    validate(config, str(REPO / "schemas/config.schema.yaml"))
    for section in ("alpha", "sde", "iterates"):
        validate(config[section], str(REPO / f"schemas/{section}.schema.yaml"))
    return config


def brute_force_count(entry):
    """Runs of one grid entry: the product of the lengths of its list-valued keys (betas: a list of pairs)."""
    count = 1
    for key, value in entry.items():
        if key == "model" and isinstance(value, dict):
            continue
        if isinstance(value, list) and not (key == "betas" and not isinstance(value[0], list)):
            count *= len(value)
    return count


def test_default_study_has_the_brute_force_number_of_distinct_runs():
    config = validated()
    study = build_study(config)
    for index, entry in enumerate(config["runs"]):
        runs = list(expand_grid(index, entry))
        assert len(runs) == brute_force_count(entry)
    assert len(study.runs) == sum(brute_force_count(entry) for entry in config["runs"])  # no id repeats
    for run in study.runs:
        assert RunSpec.from_dict(study.spec(run)).run_id == run  # every field is a RunSpec field


def test_expansion_order_ids_and_specs_of_a_small_grid():
    config = validated(REPO / "tests/config.tiny.yaml")
    study = build_study(config)
    assert list(study.runs)[:4] == [
        "mnist5k/fcn-d2-w8/nll/b200-lr0.1-it30/s0", "mnist5k/fcn-d3-w8/nll/b200-lr0.1-it30/s0",  # size keys vary fastest
        "mnist5k/fcn-d2-w8/hinge/b200-lr0.1-it30/s0", "mnist5k/fcn-d3-w8/hinge/b200-lr0.1-it30/s0"]
    spec = study.runs["mnist5k/alexnet-c4/nll/b500-lr0.05-it10/s0"]
    assert spec["model"] == {"model": "alexnet", "scale": 4, "init": "default"}  # MODEL_DEFAULTS filled in
    assert spec["checkpoints"] == [0, 1, 3, 10]  # 4 log-spaced points with 0 and the last iteration
    assert spec["max_coords"] == 2000 and spec["random_minibatches"] == 20 and spec["noise_test_set"] is True
    assert "optimizer" not in spec and "dataset_path" not in spec  # plain SGD on a built-in dataset: no extra keys
    assert study.dataset_path(next(iter(study.runs))) == "resources/data/mnist5k.npz"


def test_adam_betas_sweep_and_run_id():
    run = dict(dataset_name="mnist5k", model="fcn", depth=2, width=8, loss="nll", batch_size=50, lr=0.001,
               iterations=100, seed=3, optimizer_spec={"name": "adam", "betas": [0.9, 0.99]})
    assert run_id(run) == "mnist5k/fcn-d2-w8/nll/b50-lr0.001-adam0.9-0.99-it100/s3"
    entry = dict(dataset="mnist5k", model="fcn", depth=2, width=8, loss="nll", batch_size=50, lr=0.001, iterations=100,
                 seed=0, optimizer=["sgd", "adam"], betas=[[0.9, 0.999], [0.5, 0.9]])
    runs = list(expand_grid(0, entry))
    assert [(r["optimizer"], tuple(r["betas"])) for r in runs] == list(itertools.product(["sgd", "adam"], [(0.9, 0.999), (0.5, 0.9)]))


@pytest.mark.parametrize("change, message", [
    (dict(depth=None), "model 'fcn' needs key 'depth'"),
    (dict(scale=2), "do not apply to model 'fcn'"),
    (dict(betas=[0.9, 0.99]), "betas apply to optimizer 'adam' only"),
    (dict(batch_size=10**6), "larger than the training set of 'mnist5k'"),
    (dict(depth=1), "FCN depth must be >= 2"),
])
def test_grid_errors_name_the_entry(change, message):
    entry = dict(dataset="mnist5k", model="fcn", depth=2, width=8, loss="nll", batch_size=50, lr=0.1, iterations=10, seed=0)
    entry.update(change)
    entry = {k: v for k, v in entry.items() if v is not None}
    config = validated(REPO / "tests/config.tiny.yaml", runs=[entry])
    with pytest.raises(ConfigError, match=r"config runs\[0\]") as error:
        build_study(config)
    assert message in str(error.value)


def test_one_id_for_two_different_runs_is_an_error_naming_both_entries():
    entry = dict(dataset="mnist5k", model="fcn", depth=2, width=8, loss="nll", batch_size=50, lr=0.1, iterations=10, seed=0)
    config = validated(REPO / "tests/config.tiny.yaml", runs=[entry, {**entry, "random_minibatches": 3}])
    with pytest.raises(ConfigError, match=r"runs\[0\] and runs\[1\] both give the run id .* differ in random_minibatches"):
        build_study(config)
    same = validated(REPO / "tests/config.tiny.yaml", runs=[entry, dict(entry)])
    assert len(build_study(same).runs) == 1  # the same run twice is one run


def test_custom_models_are_checked_once_per_distinct_model():
    calls = []
    entry = dict(dataset="mnist5k", model={"kind": "custom", "factory": "m:f", "kwargs": {"c": 2}}, loss="nll",
                 batch_size=50, lr=0.1, iterations=10, seed=[0, 1, 2])
    config = validated(REPO / "tests/config.tiny.yaml", runs=[entry])
    study = build_study(config, check_model=lambda *args: calls.append(args))
    assert len(study.runs) == 3 and calls == [({"model": "custom", "factory": "m:f", "kwargs": {"c": 2}}, (1, 28, 28), 10)]

    def refuse(*args):
        raise ValueError("output has shape (2, 3)")

    with pytest.raises(ConfigError, match=r"config runs\[0\].model: output has shape"):
        build_study(config, check_model=refuse)


def test_bundles_group_equal_keys_in_config_order_with_readable_unique_names():
    entry = dict(dataset="mnist5k", model="fcn", depth=2, width=8, loss=["nll", "hinge"], batch_size=50, lr=0.1,
                 iterations=10, seed=[0, 1, 2])
    other = {**entry, "loss": "nll", "random_minibatches": 5, "seed": [7, 8]}  # same name parts, another bundle key
    config = validated(REPO / "tests/config.tiny.yaml", runs=[entry, other])
    config["train"]["bundle_size"] = "auto"
    study = build_study(config)
    assert list(study.bundles) == ["mnist5k_fcn_d2_w8_b50_it10_x6", "mnist5k_fcn_d2_w8_b50_it10_x2"]
    for members in study.bundles.values():
        assert len({bundle_key(study.runs[run]) for run in members}) == 1
    assert study.bundles["mnist5k_fcn_d2_w8_b50_it10_x6"] == list(study.runs)[:6]  # config order
    config["train"]["bundle_size"] = 4
    chunks = build_study(config).bundles
    assert list(chunks) == ["mnist5k_fcn_d2_w8_b50_it10_x4", "mnist5k_fcn_d2_w8_b50_it10_x2",
                            "mnist5k_fcn_d2_w8_b50_it10_x2_2"]  # 6 = 4 + 2, then the other key's 2; a clash gets _2
    assert sorted(run for members in chunks.values() for run in members) == sorted(study.runs)
    config["train"]["bundle_size"] = 1
    assert build_study(config).bundles == {} and build_study(config).alone == list(study.runs)
    assert bundle_rule_name({"dataset": "my.data", "model": {"model": "vit", "depth": 2, "width": 8, "heads": 2, "patch": 7},
                             "batch_size": 5, "iterations": 9}, 3) == "my_data_vit_d2_w8_h2_p7_b5_it9_x3"


def test_example_runs_default_to_the_last_run_of_each_dataset_model_loss():
    config = validated(REPO / "tests/config.tiny.yaml")
    study = build_study(config)
    assert study.examples == ["mnist5k/fcn-d2-w8/nll/b500-lr0.1-it30/s0", "mnist5k/fcn-d3-w8/hinge/b200-lr0.1-it30/s0",
                              "mnist5k/alexnet-c4/nll/b500-lr0.05-it10/s0"]
    config["figures"]["example_runs"] = ["no/such/run"]
    with pytest.raises(ConfigError, match="figures.example_runs: .* are not runs of this study"):
        build_study(config)


def test_iterates_block_is_checked_with_the_study():
    config = validated(REPO / "tests/config.tiny.yaml")
    assert build_study(config).iterates["networks"] == {"fcn-d2-w8": {"model": "fcn", "depth": 2, "width": 8}}
    config["iterates"]["linear"]["curve_alphas"] = [1.5, 1.0]
    with pytest.raises(ConfigError, match="iterates.linear.curve_alphas: the first value must be below the second"):
        build_study(config)


def test_checks_across_keys_and_schema_words():
    config = validated(REPO / "tests/config.tiny.yaml")
    check_across_keys(config)
    config["alpha"]["k1"] = {**config["alpha"]["k1"], "policy": "fixed", "fixed": 7}
    with pytest.raises(ConfigError, match=r"alpha.k1 \(policy fixed\) needs K1 \[7\]"):
        check_across_keys(config)
    config = validated(REPO / "tests/config.tiny.yaml")
    config["figures"]["method"] = "hill"
    with pytest.raises(ConfigError, match="figures.method='hill' must be among"):
        check_across_keys(config)
    assert expected({"type": "integer", "minimum": 1}) == "integer >= 1"
    assert expected({"enum": ["cpu", "cuda"]}) == "one of 'cpu', 'cuda'"
    assert expected({"type": "array", "items": {"type": "number", "exclusiveMinimum": 0}}) == "a list of (number > 0)"


def test_bundle_wall_time_is_one_runs_per_member():
    entry = dict(dataset="mnist5k", model="fcn", depth=2, width=8, loss="nll", batch_size=50, lr=0.1,
                 iterations=4000, seed=[0, 1, 2])
    config = validated(REPO / "tests/config.tiny.yaml", runs=[entry])
    config["train"]["bundle_size"] = "auto"
    study = build_study(config)
    (bundle,) = study.bundles
    assert study.bundle_runtime_min(bundle) == 30 + 3 * 4000 // 400 == 60  # as profiles/slurm sizes rule train, × 3
    assert study.alone == [] and study.bundled == set(study.runs)
