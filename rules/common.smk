# Config checks, the study (sgnoise.study: run id → spec, bundles, example runs) and the input functions the rules use.
# Python here is limited to that; the grid itself is built and unit-tested in the library.

import re
from pathlib import Path

from snakemake.utils import validate

from sgnoise.study import DATASETS, build_study, check_across_keys, coerce_to_schema_types, dataset_info, schema_error

if workflow.config_settings.config:  # nested --config values arrive as strings ("100"): read them as schema types
    coerced = coerce_to_schema_types(config, dict(workflow.config_settings.config), Path(workflow.basedir) / "schemas")
    config.clear()
    config.update(coerced)
for section, schema in ((None, "config"), ("alpha", "alpha"), ("sde", "sde"), ("iterates", "iterates")):
    try:  # fills the schema's defaults
        validate(config if section is None else config[section], f"../schemas/{schema}.schema.yaml")
    except Exception as error:
        raise (schema_error(error, section) or error) from None
check_across_keys(config)


def check_model(model, input_shape, num_classes):
    from sgnoise.models import check_model as build_and_check  # torch: only for custom models

    build_and_check(model, input_shape, num_classes)


STUDY = build_study(config, check_model)
RUNS, BUNDLES, DATA_DIR = STUDY.runs, STUDY.bundles, STUDY.data_dir


wildcard_constraints:
    run=r"[^/]+/[^/]+/[^/]+/[^/]+/s\d+",
    dataset="|".join(DATASETS),  # built-in datasets only: a user's .npz (kind: npz) is never prepared


def alone_run_pattern():
    """Regex of the runs trained one per job by rule train (never a bundled run)."""
    return "|".join(re.escape(run) for run in STUDY.alone) or "(?!)"


def bundle_files(members, name):
    return [f"results/runs/{run}/{name}" for run in members]


def run_spec(wildcards):
    return STUDY.spec(wildcards.run)


def run_dataset_path(wildcards):
    return STUDY.dataset_path(wildcards.run)


def downloaded_manifest(wildcards):
    """The download rule's manifest for datasets that are downloaded; nothing for bundled ones."""
    if dataset_info(wildcards.dataset).source == "download":
        return f"{DATA_DIR}/{wildcards.dataset}/MANIFEST.json"
    return []


def run_files(name):
    return [f"results/runs/{run}/{name}" for run in RUNS]


def example_run_files(name):
    return [f"results/runs/{run}/{name}" for run in STUDY.examples]


def all_targets():
    """Every figure of the study (FIGURE_RULES in rules/figures.smk), PDF and PNG."""
    return expand("results/figures/{name}.{ext}", name=FIGURE_RULES, ext=["pdf", "png"])
