"""The study grid: a validated config → every run's spec, its run id, the training bundles (torch-free).

Each ``runs:`` entry of the config is a grid; its list-valued keys expand as a Cartesian product into runs.
A run's id (:func:`run_id`) is readable and stable, ``<dataset>/<model tag>/<loss>/b<B>-lr<η>[-adam…]-it<T>/s<seed>``,
and names its output folder ``results/runs/<id>/``. A run's spec (the dict of :class:`sgnoise.study.spec.RunSpec`
less ``run_id``) holds every value that changes its result; equal ids for different specs are an error.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass, field

from sgnoise.data import dataset_info, npz_dataset_info
from sgnoise.study.checks import ConfigError
from sgnoise.study.iterates_config import check_iterates_config
from sgnoise.study.naming import (ADAM_BETAS, MODEL_DEFAULTS, MODEL_SIZE_KEYS, bundle_key, bundle_supported, model_problem,
                                  model_tag, optimizer_tag)
from sgnoise.study.schedule import checkpoint_schedule

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


def expand_grid(index: int, grid: dict):
    """All runs of the ``runs[index]`` entry ``grid``: the Cartesian product of its list-valued keys (GRID_KEYS and
    the model's size keys, MODEL_SIZE_KEYS), in key order; a missing size key takes MODEL_DEFAULTS or is an error."""
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


def run_id(run: dict) -> str:
    """Readable, stable run id from the values that change the result (an expanded grid point with its
    ``dataset_name`` and ``optimizer_spec``)."""
    return (
        f"{run['dataset_name']}/{model_tag(run.get('model_spec', run))}/{run['loss']}/"
        f"b{run['batch_size']}-lr{run['lr']:g}{optimizer_tag(run['optimizer_spec'])}-it{run['iterations']}/s{run['seed']}"
    )


def dataset_of(index: int, entry):
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


def _model_spec(index: int, run: dict, info, check_model) -> dict:
    """The run's model spec, checked against its dataset's input shape (a custom model by ``check_model``)."""
    if run["model"] == "custom":
        if check_model is not None:
            try:
                check_model(run["model_spec"], info.input_shape, info.num_classes)
            except ValueError as error:
                raise ConfigError(f"config runs[{index}].model: {error}") from None
        return run["model_spec"]
    model = {key: run[key] for key in ["model"] + MODEL_SIZE_KEYS[run["model"]]}
    problem = model_problem(model, info.input_shape)
    if problem:
        raise ConfigError(f"config runs[{index}] ({model_tag(model)} on {run['dataset_name']}): {problem}")
    return model


def _run_spec(index: int, grid: dict, run: dict, config: dict, check_model) -> dict:
    """The spec of one expanded grid point: every value that changes the run's result."""
    train, noise = config["train"], config["noise"]
    run["dataset_name"], info, dataset_path = dataset_of(index, run["dataset"])
    if run["batch_size"] > info.n_train:
        raise ConfigError(f"config runs[{index}].batch_size={run['batch_size']} is larger than the "
                          f"training set of '{run['dataset_name']}' ({info.n_train} points)")
    model = _model_spec(index, run, info, check_model)
    optimizer = None if run["optimizer"] == "sgd" else {"name": run["optimizer"], "betas": list(run["betas"])}
    run["optimizer_spec"] = optimizer
    count = grid.get("checkpoints", train["checkpoints"]["count"])
    explicit = [] if "checkpoints" in grid else train["checkpoints"]["iterations"]
    try:
        checkpoints = checkpoint_schedule(run["iterations"], count, explicit)
    except ValueError as error:
        raise ConfigError(f"config runs[{index}] (iterations={run['iterations']}): {error}") from None
    spec = dict(dataset=run["dataset_name"], model=model, loss=run["loss"], batch_size=run["batch_size"],
                lr=float(run["lr"]), iterations=run["iterations"], seed=run["seed"], lr_milestones=train["lr_milestones"],
                lr_factor=train["lr_factor"], checkpoints=checkpoints, max_coords=noise["max_coords"],
                noise_seed=noise["seed"], random_minibatches=grid.get("random_minibatches", noise["random_minibatches"]),
                on_divergence=train["on_divergence"], checksum=noise["checksum"], pooled_k1_grid=noise["pooled_k1_grid"],
                pooled_zeros=noise["pooled_zeros"], noise_test_set=noise["test_set"])
    # only where they differ from a built-in dataset and plain SGD, so that the specs (and so the jobs'
    # params) of existing studies do not change
    if dataset_path is not None:
        spec["dataset_path"] = dataset_path
    if optimizer is not None:
        spec["optimizer"] = optimizer
    return spec


def build_runs(config: dict, check_model=None) -> dict:
    """Run id → spec for every run of the validated ``config``, in config order. ``check_model(model_spec,
    input_shape, num_classes)`` (e.g. :func:`sgnoise.models.check_model`) checks each distinct custom model once;
    None skips that check (it needs torch)."""
    runs, origins, checked = {}, {}, {}

    def check_once(model, input_shape, num_classes):
        key = repr((model, input_shape, num_classes))
        if key not in checked:
            check_model(model, input_shape, num_classes)
            checked[key] = True

    for index, grid in enumerate(config["runs"]):
        for run in expand_grid(index, grid):
            spec = _run_spec(index, grid, run, config, check_once if check_model else None)
            identifier = run_id(run)
            if identifier in runs and runs[identifier] != spec:
                # the same id for two different runs would make one overwrite the other
                differing = sorted(key for key in spec if spec[key] != runs[identifier].get(key))
                raise ConfigError(
                    f"config runs[{origins[identifier]}] and runs[{index}] both give the run id {identifier!r} "
                    f"for different runs (they differ in {', '.join(differing)}); make the grids disjoint"
                )
            runs[identifier] = spec
            origins.setdefault(identifier, index)
    return runs


def bundle_rule_name(spec: dict, size: int) -> str:
    """Readable name of a bundle of ``size`` runs sharing ``spec``'s bundle key, e.g. ``mnist5k_fcn_d2_w16_b50_it300_x4``."""
    text = f"{spec['dataset']}_{model_tag(spec['model'])}_b{spec['batch_size']}_it{spec['iterations']}_x{size}"
    return re.sub(r"[^A-Za-z0-9]+", "_", text)


def build_bundles(runs: dict, bundle_size) -> dict:
    """Bundle name → run ids trained together in one job (train.bundle_size, docs/bundle.md). FCN runs with equal
    :func:`sgnoise.study.naming.bundle_key` (equal in all but seed, lr and loss) are grouped in config order and cut
    into chunks of ``bundle_size`` ('auto': one chunk); a chunk of one is trained alone. Names are readable
    (:func:`bundle_rule_name`), suffixed ``_2``, ``_3``, … where two chunks would share one."""
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
                name = base = bundle_rule_name(runs[chunk[0]], len(chunk))
                suffix = 1
                while name in bundles:
                    suffix += 1
                    name = f"{base}_{suffix}"
                bundles[name] = chunk
    return bundles


def example_runs(runs: dict, chosen) -> list:
    """Runs shown in the noise-norm, coordinate and Hill-plot figures: ``chosen`` (figures.example_runs), or else the
    last run (in config order, so the largest model of a sweep) of each dataset × model × loss."""
    unknown = [run for run in chosen if run not in runs]
    if unknown:
        raise ConfigError(f"config figures.example_runs: {unknown} are not runs of this study; runs are e.g. {next(iter(runs))}")
    if chosen:
        return list(chosen)
    last = {}
    for run, spec in runs.items():
        last[(spec["dataset"], spec["model"]["model"], spec["loss"])] = run
    return list(last.values())


@dataclass
class Study:
    """What the workflow runs: run id → spec, bundle name → run ids, the example runs, the prepared-data folder,
    and the iterates studies' checked settings (``dims``, ``networks``: model tag → FCN spec)."""

    runs: dict
    bundles: dict = field(default_factory=dict)
    examples: list = field(default_factory=list)
    data_dir: str = "resources/data"
    iterates: dict = field(default_factory=dict)

    @property
    def bundled(self) -> set:
        return {run for members in self.bundles.values() for run in members}

    @property
    def alone(self) -> list:
        """Runs trained one per job (never a bundled run)."""
        return [run for run in self.runs if run not in self.bundled]

    def spec(self, run: str) -> dict:
        """The run's spec with its id, as the training job takes it (RunSpec.from_dict)."""
        return dict(run_id=run, **self.runs[run])

    def dataset_path(self, run: str) -> str:
        """A run's prepared dataset: the user's .npz, or the prepared built-in dataset in data.dir."""
        spec = self.runs[run]
        return spec.get("dataset_path") or f"{self.data_dir}/{spec['dataset']}.npz"

    def bundle_runtime_min(self, bundle: str) -> int:
        """SLURM wall time of a bundle job: that of one run (as profiles/slurm gives rule train) per member."""
        members = self.bundles[bundle]
        return 30 + len(members) * self.runs[members[0]]["iterations"] // 400


def build_study(config: dict, check_model=None) -> Study:
    """The :class:`Study` of a validated config (schemas/*.schema.yaml, defaults filled)."""
    runs = build_runs(config, check_model)
    try:
        iterates = check_iterates_config(config["iterates"]) if "iterates" in config else {}
    except ValueError as error:
        raise ConfigError(str(error)) from None
    return Study(runs=runs, bundles=build_bundles(runs, config["train"]["bundle_size"]),
                 examples=example_runs(runs, config["figures"]["example_runs"]),
                 data_dir=config["data"]["dir"].rstrip("/"), iterates=iterates)
