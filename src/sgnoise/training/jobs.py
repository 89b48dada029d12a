"""The workflow's training jobs (rules train and train_bundle): one library call per job script."""

from __future__ import annotations

import sys

from sgnoise.study.spec import RunSpec
from sgnoise.training.bundle import OUTPUT_KEYS, train_bundle
from sgnoise.training.runtime import configure_determinism, load_run_data, resolve_device
from sgnoise.training.single import train_run
from sgnoise.training.state import StateError


class JobError(Exception):
    """A training job that stops with a message and no traceback: a damaged prepared dataset, a state
    directory that cannot be used (StateError) or a run that diverged with ``on_divergence: fail``."""


def _stderr_lines(message) -> None:
    print(message, file=sys.stderr, flush=True)


def run_job(specs: list[dict], dataset_path, outputs: dict, *, device: str, threads: int, state_root,
            train_config: dict, matrix_memory_mb: float, bundle: bool = False, log=None) -> dict:
    """Train the runs ``specs`` (RunSpec dicts) on the prepared dataset at ``dataset_path`` and write their
    ``outputs["noise"|"metrics"|"status"]`` (a rule's named outputs: one path each for one run, trained with
    train_run; with ``bundle``, lists of paths in the order of ``specs``, trained with train_bundle).

    Resolves ``device`` ("auto"), fixes the numerics (configure_determinism with ``threads``) and reads
    ``state_interval_s`` and ``progress_interval_s`` (default 10 s) from ``train_config`` (the config's ``train``
    section, not the rule's params: changing them never retrains finished runs). Returns run id → status dict
    in the order of ``specs``; raises JobError for the failures a job reports as one line ("error: …"), and
    progress goes to ``log`` (a callable taking a line; default: stderr).
    """
    log = log or _stderr_lines
    device = resolve_device(device)
    configure_determinism(device, threads)
    specs = [RunSpec.from_dict(spec) for spec in specs]
    if bundle:
        outputs = [dict(zip(OUTPUT_KEYS, paths)) for paths in zip(*(outputs[key] for key in OUTPUT_KEYS), strict=True)]
    elif len(specs) != 1:
        raise ValueError(f"a job without bundle trains one run, got {len(specs)} specs")
    try:
        data = load_run_data(dataset_path)
    except ValueError as error:
        raise JobError(error) from error
    options = dict(device=device, state_root=state_root, state_interval_s=train_config.get("state_interval_s"),
                   log=log, matrix_memory_mb=matrix_memory_mb,
                   progress_interval_s=train_config.get("progress_interval_s", 10))
    try:
        if bundle:
            statuses = train_bundle(specs, data, outputs, **options)
        else:
            statuses = [train_run(specs[0], data, *(outputs[key] for key in OUTPUT_KEYS), **options)]
    except (StateError, FloatingPointError) as error:
        raise JobError(error) from error
    return {spec.run_id: status for spec, status in zip(specs, statuses)}
