"""Bundled training's loop: train_bundle splits the runs into bundles of what fits, and each bundle is
trained as train_run trains one run (checkpoints, resumable state, progress lines, outputs; docs/faults.md)."""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path

from sgnoise.study.naming import bundle_name
from sgnoise.study.spec import RunSpec
from sgnoise.training.bundle._members import _Bundle, _Member
from sgnoise.training.bundle.plan import check_bundle, choose_bundle_size
from sgnoise.training.outputs import clear_output_temporaries
from sgnoise.training.progress import Progress
from sgnoise.training.runtime import numerics_fingerprint
from sgnoise.training.state import RunStateDirectory, temporary_state_directory

OUTPUT_KEYS = ("noise", "metrics", "status")
BUNDLE_STATE_DIR = "_bundles"  # <state_root>/_bundles/<bundle_name>/: a bundle's own state (members' are per run)


def _check_paths(out_paths, count) -> None:
    if not isinstance(out_paths, (list, tuple)) or len(out_paths) != count:
        raise ValueError(f"out_paths must be a list of {count} dicts (one per spec), got {out_paths!r}")
    for paths in out_paths:
        missing = [key for key in OUTPUT_KEYS if key not in paths]
        if missing:
            raise ValueError(f"out_paths entry {paths!r} lacks key(s) {missing} (expected {list(OUTPUT_KEYS)})")
    every = [str(Path(paths[key])) for paths in out_paths for key in OUTPUT_KEYS]
    if len(set(every)) != len(every):
        raise ValueError("out_paths repeat a path; every member needs its own noise, metrics and status files")


def bundle_fingerprint(specs, device) -> str:
    """Identity of a bundle's numerics (as sgnoise.training.runtime.run_fingerprint for one run): a saved bundle state
    is resumed only by the same members in the same order, on the same device type and thread count."""
    return numerics_fingerprint(device, specs=[spec.to_dict() for spec in specs])


def train_bundle(specs: list[RunSpec], data: dict, out_paths: list[dict], device="cpu",
                 max_members: int | None = None, return_parameters: bool = False, *,
                 state_root=None, state_interval_s=None, log=None, matrix_memory_mb=1024.0,
                 progress_interval_s: float | None = 10.0):
    """Train the runs ``specs`` (see :func:`check_bundle`) as bundles and write, for each run,
    exactly the outputs of :func:`sgnoise.training.single.train_run`: ``out_paths[m]["noise"|"metrics"|"status"]``.

    At most ``max_members`` runs are trained at once (None: :func:`choose_bundle_size` for
    ``device``). A member whose loss becomes non-finite is recorded as diverged and leaves the
    bundle; the others go on. Members with ``on_divergence: fail`` that diverge write nothing,
    and a FloatingPointError naming them is raised once the others are written. Returns the
    members' status dicts, in the order of ``specs``; with ``return_parameters`` also a list of
    each member's final flat parameter vector (parameters_to_vector order, on CPU).

    Resumable as train_run: with ``state_root`` the bundle's state (stacked weights, every member's
    generators, epoch order, metrics rows and status) is saved to ``<state_root>/_bundles/<name>/``
    (:func:`sgnoise.study.naming.bundle_name` of the run ids) after every checkpoint and whenever ``state_interval_s`` seconds have passed,
    and each member's checkpoint files go to ``<state_root>/<run_id>/``; a later call with the same
    specs and ``max_members`` resumes (bit-identical outputs on CPU). The directories are deleted once
    the outputs are written, kept when a member failed. Without ``state_root``, throw-away directories.

    Progress goes to ``log`` as train_run's, one line for the whole bundle (the members' loss and
    accuracy ranges) every ``progress_interval_s`` seconds and at each checkpoint.
    """
    check_bundle(specs)
    _check_paths(out_paths, len(specs))
    n_train, num_classes = len(data["train_x"]), data["num_classes"]
    input_dim = math.prod(data["train_x"].shape[1:])
    if not 1 <= specs[0].batch_size <= n_train:
        raise ValueError(f"batch_size={specs[0].batch_size} must be in [1, {n_train}] "
                         f"(training set size of {specs[0].dataset})")
    if max_members is None:
        max_members = choose_bundle_size(specs[0], input_dim, num_classes, n_train, device)
    if max_members < 1:
        raise ValueError(f"max_members must be >= 1, got {max_members}")
    members = []
    for start in range(0, len(specs), max_members):
        members += _train_together(specs[start:start + max_members], data, out_paths[start:start + max_members],
                                   device, state_root, state_interval_s, log or (lambda message: None),
                                   matrix_memory_mb, progress_interval_s)
    statuses = [member.status for member in members]
    failed = [member.spec.run_id for member in members if member.failed()]
    if failed:
        raise FloatingPointError(f"run(s) {failed} diverged (loss is not finite); lower the learning rate "
                                 "or set train.on_divergence: record")
    return (statuses, [member.parameters for member in members]) if return_parameters else statuses


@contextlib.contextmanager
def _state_directories(specs, out_paths, state_root):
    """(bundle state directory, one state directory per member), locked; throw-away ones under the
    first member's output directory when ``state_root`` is None."""
    with contextlib.ExitStack() as stack:
        if state_root is None:
            scratch = stack.enter_context(temporary_state_directory(Path(out_paths[0]["noise"]).parent)).path
            bundle_dir = stack.enter_context(RunStateDirectory(scratch / "bundle"))
            member_dirs = [stack.enter_context(RunStateDirectory(scratch / f"member{m}")) for m in range(len(specs))]
        else:
            root = Path(state_root)
            bundle_dir = stack.enter_context(RunStateDirectory(root / BUNDLE_STATE_DIR / bundle_name(s.run_id for s in specs), root=root))
            member_dirs = [stack.enter_context(RunStateDirectory(root / spec.run_id, root=root)) for spec in specs]
        yield bundle_dir, member_dirs


def _train_together(specs, data, out_paths, device, state_root, state_interval_s, log,
                    matrix_memory_mb=1024.0, progress_interval_s=10.0) -> list[_Member]:
    """The SGD loop of sgnoise.training.single.train_run (resumable as it is), for all members at once."""
    identity = bundle_fingerprint(specs, device)
    with _state_directories(specs, out_paths, state_root) as (bundle_dir, member_dirs):
        for paths in out_paths:
            clear_output_temporaries(*(paths[key] for key in OUTPUT_KEYS), log=log)
        bundle = _Bundle(specs, data, out_paths, member_dirs, device, matrix_memory_mb)
        start, done = 0, []
        saved, reason = bundle_dir.load_state(identity)
        if saved is None:
            if reason != "no saved state":
                log(f"{reason}: discarding it and training the bundle from the start")
            for directory in [bundle_dir, *member_dirs]:
                directory.clear()
        else:
            start, done = bundle.restore(saved)
            log(f"resuming bundle {bundle_name(s.run_id for s in specs)} ({len(specs)} runs) from {bundle_dir.state_path}: "
                f"{start} SGD steps done, checkpoints {done}")
        try:
            bundle.open_dumps()
            checkpoints, iterations = set(specs[0].checkpoints), specs[0].iterations
            bundle.progress = Progress(f"bundle {bundle_name(s.run_id for s in specs)} ({len(specs)} runs)", iterations,
                                       start, log, progress_interval_s)
            last_save = time.monotonic()
            for iteration in range(start, iterations + 1):
                if not bundle.active:
                    break
                if iteration in checkpoints and iteration not in done:
                    began = time.monotonic()
                    bundle.checkpoint(iteration)
                    done.append(iteration)
                    bundle_dir.save_state(bundle.state(iteration, done), identity)
                    last_save = time.monotonic()
                    bundle.progress.checkpoint(iteration, {m.spec.run_id: m.rows[-1] for m in bundle.members
                                                           if m.rows and m.rows[-1]["iteration"] == iteration},
                                               last_save - began)
                if iteration == iterations or not bundle.active:
                    break
                bundle.step(iteration)
                bundle.progress.tick(iteration + 1)
                if state_interval_s is not None and time.monotonic() - last_save >= state_interval_s:
                    bundle_dir.save_state(bundle.state(iteration + 1, done), identity)
                    last_save = time.monotonic()
            bundle.finish()
            failed = any(member.failed() for member in bundle.members)
            if failed and state_root is not None:
                bundle_dir.save_state(bundle.state(iterations, done), identity)  # a rerun fails again at once
            bundle.write_outputs()
        except BaseException:
            bundle.abort_dumps()
            raise
        if state_root is not None and not failed:
            for directory in [*member_dirs, bundle_dir]:
                directory.remove()
    return bundle.members
