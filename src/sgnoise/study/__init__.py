"""The study: what to run, named and scheduled. Torch-free, and the only library the workflow's rules import.

A validated config (schemas/*.schema.yaml) becomes a :class:`Study` (:func:`build_study`): run id → spec
(:class:`RunSpec` fields), bundles of runs trained together, the example runs of the figures.
"""

from sgnoise.data import DATASETS, dataset_info
from sgnoise.study.checks import ConfigError, check_across_keys, coerce_to_schema_types, schema_error
from sgnoise.study.grid import Study, build_bundles, build_runs, build_study, expand_grid, run_id
from sgnoise.study.naming import MODELS, OPTIMIZERS, bundle_key, bundle_supported, model_tag
from sgnoise.study.schedule import checkpoint_schedule, learning_rate
from sgnoise.study.spec import DEFAULT_K1_GRID, RunSpec

__all__ = ["DATASETS", "DEFAULT_K1_GRID", "MODELS", "OPTIMIZERS", "ConfigError", "RunSpec", "Study", "build_bundles", "build_runs",
           "build_study", "bundle_key", "bundle_supported", "check_across_keys", "checkpoint_schedule",
           "coerce_to_schema_types", "dataset_info", "expand_grid", "learning_rate", "model_tag", "run_id", "schema_error"]
