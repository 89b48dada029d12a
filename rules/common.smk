# Helpers: config → run list → paths. The only .smk file with Python functions.

import itertools
import os
import re

from snakemake.utils import validate

from sgnoise.data import DATASETS, dataset_info, npz_dataset_info
from sgnoise.iterates import check_iterates_config
from sgnoise.study.naming import (ADAM_BETAS, MODEL_DEFAULTS, MODEL_SIZE_KEYS, bundle_key, bundle_name, bundle_supported,
                          model_problem, model_tag, optimizer_tag)
from sgnoise.study.schedule import checkpoint_schedule


class ConfigError(ValueError):
    """A config value that is wrong: the message names the key and what is expected."""


def _expected(schema):
    """What a JSON-schema fragment allows, in words."""
    if "enum" in schema:
        return "one of " + ", ".join(repr(v) for v in schema["enum"])
    if "const" in schema:
        return repr(schema["const"])
    if "oneOf" in schema or "anyOf" in schema:
        return " or ".join(_expected(s) for s in schema.get("oneOf", schema.get("anyOf")))
    words = str(schema.get("type", "a value"))
    if schema.get("type") == "array" and "items" in schema:
        words = f"a list of ({_expected(schema['items'])})"
    bounds = [f"{op} {schema[key]}" for key, op in (("minimum", ">="), ("exclusiveMinimum", ">"),
                                                     ("maximum", "<="), ("exclusiveMaximum", "<")) if key in schema]
    return words + (" " + " and ".join(bounds) if bounds else "")


def validate_section(section, schema):
    """Validate ``config[section]`` (or the whole config) against a schema, filling defaults, and turn a
    schema violation into one ConfigError line that names the key and what it allows."""
    data = config if section is None else config[section]
    try:
        validate(data, schema)
    except Exception as error:  # snakemake wraps jsonschema's ValidationError in a WorkflowError
        candidates = [*error.args, error.__cause__, error.__context__]
        violation = next((c for c in candidates if hasattr(c, "absolute_path") and hasattr(c, "validator")), None)
        if violation is None:
            raise
        path = section or ""
        for part in violation.absolute_path:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        where = f"config {path}" if path else "config"
        if violation.validator == "additionalProperties":
            allowed = ", ".join(sorted(violation.schema.get("properties", {})))
            raise ConfigError(f"{where}: {violation.message}; allowed keys: {allowed}") from None
        raise ConfigError(f"{where}: {violation.message}; expected {_expected(violation.schema)}") from None


def read_overrides_as_schema_types():
    """Nested --config values arrive as strings ("100"): read each as its key's schema type first."""
    import yaml
    from pathlib import Path

    from sgnoise.study.overrides import OverrideError, coerce_overrides

    overrides = dict(workflow.config_settings.config or {})
    if not overrides:
        return
    schemas = {}
    for section, name in ((None, "config"), ("alpha", "alpha"), ("sde", "sde"), ("iterates", "iterates")):
        with open(Path(workflow.basedir) / "schemas" / f"{name}.schema.yaml") as handle:
            schemas[section] = yaml.safe_load(handle)
    try:
        coerced = coerce_overrides(config, overrides, schemas)
    except OverrideError as error:
        raise ConfigError(str(error)) from None
    config.clear()
    config.update(coerced)


read_overrides_as_schema_types()
validate_section(None, "../schemas/config.schema.yaml")
validate_section("alpha", "../schemas/alpha.schema.yaml")
validate_section("sde", "../schemas/sde.schema.yaml")
validate_section("iterates", "../schemas/iterates.schema.yaml")


def check_k1_policy(alpha, noise):
    """The pooled view's K1 (alpha.k1) must be measured in the noise pass (noise.pooled_k1_grid)."""
    policy, measured = alpha["k1"]["policy"], set(noise["pooled_k1_grid"])
    wanted = {"reference": set(), "fixed": {alpha["k1"]["fixed"]}, "median": set(alpha["k1"]["grid"])}[policy]
    if "pooled" in alpha["views"] and not wanted <= measured:
        raise ConfigError(
            f"config alpha.k1 (policy {policy}) needs K1 {sorted(wanted - measured)}, which noise.pooled_k1_grid "
            f"does not measure ({sorted(measured)}); add them there"
        )


check_k1_policy(config["alpha"], config["noise"])


wildcard_constraints:
    run=r"[^/]+/[^/]+/[^/]+/[^/]+/s\d+",
    dataset="|".join(DATASETS),  # built-in datasets only: a user's .npz (kind: npz) is never prepared


DATA_DIR = config["data"]["dir"].rstrip("/")
FIGURE_FORMATS = ["pdf", "png"]
RUN_FIGURES = [
    "alpha_vs_width",
    "alpha_vs_depth",
    "alpha_vs_batch_size",
    "alpha_vs_scale",
    "alpha_over_iterations",
    "noise_norm_histogram",
    "coordinate_distribution",
    "alpha_views",
    "per_parameter_alpha",
    "alpha_vs_k1",
    "hill_plot",
    "estimator_agreement",
    "alpha_by_architecture",
]
STANDALONE_FIGURES = ["estimator_validation", "estimator_calibration"]
SDE_FIGURES = [
    "sde_exit_vs_eps",
    "sde_exit_vs_width",
    "sde_exit_vs_depth",
    "sde_exit_distribution",
    "sde_levy_paths",
    "sde_discrete_exit",
]
ITERATE_FIGURES = ["iterate_alpha_vs_eta_over_b", "iterate_alpha_nn"]
GRID_KEYS = ["dataset", "model", "loss", "batch_size", "lr", "iterations", "seed", "optimizer", "betas"]
GRID_DEFAULTS = {"optimizer": "sgd", "betas": [list(ADAM_BETAS)]}  # betas: a list of (β1, β2) pairs to sweep
GRID_OVERRIDES = ["checkpoints", "random_minibatches"]  # per-entry train.checkpoints.count, noise.random_minibatches


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _grid_values(grid, key, defaults):
    value = grid.get(key, defaults.get(key, GRID_DEFAULTS.get(key)))
    if key == "betas" and value and not isinstance(value[0], list):
        return [value]  # one pair
    return _as_list(value)


def expand_grid(index, grid):
    """All runs of one `runs:` entry: the Cartesian product of its list-valued keys."""
    model = grid["model"]
    kind = model["kind"] if isinstance(model, dict) else model
    size_keys = MODEL_SIZE_KEYS.get(kind, [])
    keys = GRID_KEYS + size_keys
    defaults = MODEL_DEFAULTS.get(kind, {})
    for key in size_keys:
        if key not in grid and key not in defaults:
            raise ConfigError(f"config runs[{index}]: model '{kind}' needs key '{key}'")
    foreign = [k for k in grid if k not in keys + GRID_OVERRIDES]
    if foreign:
        raise ConfigError(f"config runs[{index}]: key(s) {foreign} do not apply to model '{kind}' (allowed: {keys})")
    if "betas" in grid and "adam" not in _as_list(grid.get("optimizer")):
        raise ConfigError(f"config runs[{index}]: betas apply to optimizer 'adam' only (optimizer: adam)")
    values = [_grid_values(grid, key, defaults) for key in keys]
    for combination in itertools.product(*values):
        run = dict(zip(keys, combination))
        run["model"] = kind
        if kind == "custom":
            run["model_spec"] = {"model": "custom", "factory": model["factory"], "kwargs": model.get("kwargs") or {},
                                 **({"name": model["name"]} if model.get("name") else {})}
        yield run


def run_id(run):
    """Readable, stable run id from the values that change the result."""
    return (
        f"{run['dataset_name']}/{model_tag(run.get('model_spec', run))}/{run['loss']}/"
        f"b{run['batch_size']}-lr{run['lr']:g}{optimizer_tag(run['optimizer_spec'])}-it{run['iterations']}/s{run['seed']}"
    )


def dataset_of(index, entry):
    """(run-id name, DatasetInfo, path of a user's .npz or None) of a grid's dataset value."""
    if isinstance(entry, str):
        return entry, dataset_info(entry), None
    path = entry["path"]
    name = entry.get("name") or re.sub(r"[^a-z0-9]", "", os.path.splitext(os.path.basename(path))[0].lower())
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise ConfigError(f"config runs[{index}].dataset: name {name!r} (the run id's first part) must be made of "
                          "letters, digits, '.', '_' and '-'; set dataset.name")
    try:
        return name, npz_dataset_info(path, name), path
    except ValueError as error:
        raise ConfigError(f"config runs[{index}].dataset: {error}") from None


CHECKED_MODELS = {}


def check_custom_model(index, model, info):
    """Build a custom model once per (factory, kwargs, dataset shape) and check its output before any job runs."""
    import json

    key = json.dumps([model, info.input_shape, info.num_classes], sort_keys=True)
    if key not in CHECKED_MODELS:
        from sgnoise.models import check_model

        try:
            check_model(model, info.input_shape, info.num_classes)
        except ValueError as error:
            raise ConfigError(f"config runs[{index}].model: {error}") from None
        CHECKED_MODELS[key] = True


def build_runs(config):
    runs, origins = {}, {}  # run id → spec, and the index of the runs[] entry that first gave it
    train = config["train"]
    for index, grid in enumerate(config["runs"]):
        for run in expand_grid(index, grid):
            run["dataset_name"], info, dataset_path = dataset_of(index, run["dataset"])
            if run["batch_size"] > info.n_train:
                raise ConfigError(
                    f"config runs[{index}].batch_size={run['batch_size']} is larger than the "
                    f"training set of '{run['dataset_name']}' ({info.n_train} points)"
                )
            if run["model"] == "custom":
                model = run["model_spec"]
                check_custom_model(index, model, info)
            else:
                model = {key: run[key] for key in ["model"] + MODEL_SIZE_KEYS[run["model"]]}
                problem = model_problem(model, info.input_shape)
                if problem:
                    raise ConfigError(f"config runs[{index}] ({model_tag(model)} on {run['dataset_name']}): {problem}")
            optimizer = None if run["optimizer"] == "sgd" else {"name": run["optimizer"], "betas": list(run["betas"])}
            run["optimizer_spec"] = optimizer
            count = grid.get("checkpoints", train["checkpoints"]["count"])
            explicit = [] if "checkpoints" in grid else train["checkpoints"]["iterations"]
            try:
                checkpoints = checkpoint_schedule(run["iterations"], count, explicit)
            except ValueError as error:
                raise ConfigError(f"config runs[{index}] (iterations={run['iterations']}): {error}") from None
            spec = dict(
                dataset=run["dataset_name"],
                model=model,
                loss=run["loss"],
                batch_size=run["batch_size"],
                lr=float(run["lr"]),
                iterations=run["iterations"],
                seed=run["seed"],
                lr_milestones=train["lr_milestones"],
                lr_factor=train["lr_factor"],
                checkpoints=checkpoints,
                max_coords=config["noise"]["max_coords"],
                noise_seed=config["noise"]["seed"],
                random_minibatches=grid.get("random_minibatches", config["noise"]["random_minibatches"]),
                on_divergence=train["on_divergence"],
                checksum=config["noise"]["checksum"],
                pooled_k1_grid=config["noise"]["pooled_k1_grid"],
                pooled_zeros=config["noise"]["pooled_zeros"],
                noise_test_set=config["noise"]["test_set"],
            )
            # only where they differ from a built-in dataset and plain SGD, so that the specs (and
            # so the jobs' params) of existing studies do not change
            if dataset_path is not None:
                spec["dataset_path"] = dataset_path
            if optimizer is not None:
                spec["optimizer"] = optimizer
            identifier = run_id(run)
            if identifier in runs and runs[identifier] != spec:
                # the same id for two different runs would make one overwrite the other
                first_index = origins[identifier]
                differing = sorted(key for key in spec if spec[key] != runs[identifier].get(key))
                raise ConfigError(
                    f"config runs[{first_index}] and runs[{index}] both give the run id {identifier!r} "
                    f"for different runs (they differ in {', '.join(differing)}); make the grids disjoint"
                )
            runs[identifier] = spec
            origins.setdefault(identifier, index)
    return runs


RUNS = build_runs(config)


def build_bundles(runs, bundle_size):
    """Bundle name → run ids trained together in one job (train.bundle_size, docs/bundle.md). FCN runs
    with equal sgnoise.training.bundle.bundle_key (equal in all but seed, lr and loss) are grouped in config
    order and cut into chunks of bundle_size ('auto': one chunk); a chunk of one stays with rule
    train. The name hashes the member ids: the same members always make the same rule."""
    if bundle_size == 1:
        return {}
    groups = {}
    for run, spec in runs.items():
        if bundle_supported(spec["model"], spec.get("optimizer")):
            groups.setdefault(bundle_key(spec), []).append(run)
    bundles = {}
    for members in groups.values():
        size = len(members) if bundle_size == "auto" else bundle_size
        for start in range(0, len(members), size):
            chunk = members[start : start + size]
            if len(chunk) > 1:
                bundles[bundle_name(chunk)] = chunk
    return bundles


BUNDLES = build_bundles(RUNS, config["train"]["bundle_size"])
BUNDLED_RUNS = {run for members in BUNDLES.values() for run in members}


def alone_run_pattern():
    """Regex of the runs trained one per job by rule train (never a bundled run)."""
    alone = [re.escape(run) for run in RUNS if run not in BUNDLED_RUNS]
    return "|".join(alone) if alone else "(?!)"


def bundle_files(members, name):
    return [f"results/runs/{run}/{name}" for run in members]


def bundle_specs(members):
    return [dict(run_id=run, **RUNS[run]) for run in members]


def dataset_path(spec):
    """A run's prepared dataset: the user's .npz, or the prepared built-in dataset in data.dir."""
    return spec.get("dataset_path") or f"{DATA_DIR}/{spec['dataset']}.npz"


def bundle_dataset_path(members):
    return dataset_path(RUNS[members[0]])


def bundle_runtime_min(members):
    """SLURM wall time of a bundle job: that of one run (as profiles/slurm does for rule train) per member."""
    return 30 + len(members) * RUNS[members[0]]["iterations"] // 400


PER_PARAMETER_METHODS = config["alpha"]["per_parameter_methods"] or config["alpha"]["methods"][:1]
if config["figures"]["method"] not in PER_PARAMETER_METHODS:
    raise ConfigError(
        f"config figures.method={config['figures']['method']!r} must be among the methods whose per-coordinate "
        f"α is kept: alpha.per_parameter_methods (null = the first of alpha.methods) = {PER_PARAMETER_METHODS}"
    )


def run_spec(wildcards):
    return dict(run_id=wildcards.run, **RUNS[wildcards.run])


def downloaded_manifest(wildcards):
    """The download rule's manifest for datasets that are downloaded; nothing for bundled ones."""
    if dataset_info(wildcards.dataset).source == "download":
        return f"{DATA_DIR}/{wildcards.dataset}/MANIFEST.json"
    return []


def run_dataset_path(wildcards):
    return dataset_path(RUNS[wildcards.run])


def run_files(name):
    return [f"results/runs/{run}/{name}" for run in RUNS]


def example_runs():
    """Runs shown in the noise-norm and coordinate figures: figures.example_runs, or else the last
    run (in config order, so the largest model of a sweep) of each dataset × model × loss."""
    chosen = config["figures"]["example_runs"]
    unknown = [run for run in chosen if run not in RUNS]
    if unknown:
        raise ConfigError(f"config figures.example_runs: {unknown} are not runs of this study; runs are e.g. {next(iter(RUNS))}")
    if chosen:
        return chosen
    last = {}
    for run, spec in RUNS.items():
        last[(spec["dataset"], spec["model"]["model"], spec["loss"])] = run
    return list(last.values())


def example_run_files(name):
    return [f"results/runs/{run}/{name}" for run in example_runs()]


def figure_paths(name):
    return [f"results/figures/{name}.{ext}" for ext in FIGURE_FORMATS]


def all_targets():
    names = RUN_FIGURES + STANDALONE_FIGURES + SDE_FIGURES + ITERATE_FIGURES
    return [path for name in names for path in figure_paths(name)]
