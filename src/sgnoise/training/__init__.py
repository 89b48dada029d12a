"""Training: one run (train_run) or a bundle of FCN runs trained as one vectorised model (train_bundle),
with metrics and noise dumps at log-spaced checkpoints and a resumable state (docs/faults.md, docs/bundle.md).

Modules: :mod:`~sgnoise.training.single` (the SGD/Adam loop of one run), :mod:`~sgnoise.training.bundle`,
:mod:`~sgnoise.training.runtime` (seeding, threads, device, fingerprints), :mod:`~sgnoise.training.outputs`
(checkpoint rows, the noise dump being written, status.json), :mod:`~sgnoise.training.state` (the state
directory), :mod:`~sgnoise.training.progress` (progress lines), :mod:`~sgnoise.training.jobs` (the workflow's jobs).
"""

from sgnoise.study.spec import RunSpec
from sgnoise.training.bundle import train_bundle
from sgnoise.training.jobs import JobError, run_job
from sgnoise.training.outputs import METRIC_COLUMNS, learned_status
from sgnoise.training.runtime import (configure_determinism, load_run_data, numerics_fingerprint, resolve_device,
                                      run_fingerprint, seed_everything)
from sgnoise.training.single import make_optimizer, train_run
from sgnoise.training.state import StateError

__all__ = ["JobError", "METRIC_COLUMNS", "RunSpec", "StateError", "configure_determinism", "learned_status",
           "load_run_data", "make_optimizer", "numerics_fingerprint", "resolve_device", "run_fingerprint", "run_job",
           "seed_everything", "train_bundle", "train_run"]
