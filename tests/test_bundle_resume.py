"""Resumable bundles: a bundle interrupted at any moment (an SGD step, a noise pass, between two members'
checkpoint files, after a member diverged) and called again finishes with outputs bit-identical to an
uninterrupted bundle; its state directories are shared with train_run's locks and removed at the end."""

import json
import re
import signal
import subprocess
import sys
import time

import psutil
import pytest
import torch
import yaml

import sgnoise.training.bundle._members
import sgnoise.training.bundle.vectorised
from sgnoise.training.bundle import BUNDLE_STATE_DIR, bundle_fingerprint, train_bundle
from sgnoise.study.naming import bundle_name
from sgnoise.training.state import RunStateDirectory, StateError
from test_bundle import member_specs, one_thread, output_paths, synthetic_data  # noqa: F401  (autouse fixture)
from test_resume import assert_same_h5, leftover_temporaries, prepared_dataset  # noqa: F401  (a fixture)
from workflow import REPO, snakemake

# member 2 diverges in SGD step 1 (and so leaves the bundle early); the others train 25 steps
RESUME_MEMBERS = [dict(seed=10, lr=0.1, loss="nll"), dict(seed=11, lr=0.05, loss="hinge"),
                  dict(seed=12, lr=1e20, loss="hinge"), dict(seed=13, lr=0.1, loss="nll")]
CHECKPOINTS = [0, 2, 7, 25]


def specs(**changes):
    return member_specs(RESUME_MEMBERS, iterations=25, checkpoints=CHECKPOINTS, **changes)


class Interrupted(BaseException):
    """Stands in for a kill: raised inside the training loop, it skips every except-Exception handler."""


def interrupt_after(monkeypatch, where, n_calls):
    """Make the n-th call of ``where`` raise Interrupted: "forward" (sgnoise.training.bundle's fcn_forward: SGD steps,
    metrics chunks and noise passes all count) or "checkpoint_file" (one member's checkpoint file)."""
    calls = [0]

    def counted(real):
        def wrapper(*args, **kwargs):
            calls[0] += 1
            if calls[0] == n_calls:
                raise Interrupted
            return real(*args, **kwargs)
        return wrapper
    if where == "forward":
        forward = counted(sgnoise.training.bundle.vectorised.fcn_forward)
        for module in (sgnoise.training.bundle.vectorised, sgnoise.training.bundle._members):  # every caller's name
            monkeypatch.setattr(module, "fcn_forward", forward)
    else:
        monkeypatch.setattr(RunStateDirectory, "save_checkpoint", counted(RunStateDirectory.save_checkpoint))


def assert_same_bundle_outputs(paths, reference):
    for got, expected in zip(paths, reference, strict=True):
        for key in ("metrics", "status"):
            assert got[key].read_bytes() == expected[key].read_bytes(), got[key]
        assert_same_h5(got["noise"], expected["noise"])


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    torch.set_num_threads(1)
    paths = output_paths(tmp_path_factory.mktemp("reference"), len(RESUME_MEMBERS))
    statuses = train_bundle(specs(), synthetic_data(), paths)
    assert [s["status"] for s in statuses] == ["ok", "ok", "diverged", "ok"]
    return paths


# fcn_forward calls from a fresh start: checkpoint 0 = 4 (train and test metrics, K = 6 mini-batches in
# one chunk, 3 random ones) = calls 1-4, steps 0-1 = 5-6, checkpoint 2 = 7-10, steps 2-6 = 11-15, ...
@pytest.mark.parametrize("kills", [[("forward", 6)], [("forward", 1)] * 3, [("forward", 13), ("forward", 3)],
                                   [("checkpoint_file", 6)], [("forward", 40)]],
                         ids=["step_1", "before_any_state", "steps_twice", "between_member_files", "last_noise_pass"])
@pytest.mark.parametrize("interval", [1e-9, None], ids=["saves_every_step", "saves_at_checkpoints"])
def test_resumed_bundle_is_bit_identical(tmp_path, monkeypatch, uninterrupted, kills, interval):
    state_root, log = tmp_path / "state", []
    paths = output_paths(tmp_path / "out", len(RESUME_MEMBERS))
    for where, n_calls in kills:
        interrupt_after(monkeypatch, where, n_calls)
        with pytest.raises(Interrupted):
            train_bundle(specs(), synthetic_data(), paths, state_root=state_root, state_interval_s=interval,
                         log=log.append)
        monkeypatch.undo()
        assert not any(p.exists() for member in paths for p in member.values())  # outputs only at the end
    train_bundle(specs(), synthetic_data(), paths, state_root=state_root, state_interval_s=interval, log=log.append)
    assert_same_bundle_outputs(paths, uninterrupted)
    assert not state_root.exists(), "bundle or member state left behind after a finished bundle"
    assert leftover_temporaries(tmp_path) == []
    resumed = [message for message in log if message.startswith(f"resuming bundle {bundle_name(s.run_id for s in specs())}")]
    assert bool(resumed) == (kills[0][1] > 4 or kills[0][0] == "checkpoint_file"), log


def test_state_between_checkpoints_and_after_divergence(tmp_path, monkeypatch):
    state_root = tmp_path / "state"
    interrupt_after(monkeypatch, "forward", 13)  # SGD step 4 (after checkpoint 2)
    with pytest.raises(Interrupted):
        train_bundle(specs(), synthetic_data(), output_paths(tmp_path, 4), state_root=state_root, state_interval_s=1e-9)
    with RunStateDirectory(state_root / BUNDLE_STATE_DIR / bundle_name(s.run_id for s in specs())) as directory:
        state, reason = directory.load_state(bundle_fingerprint(specs(), "cpu"))
    assert reason == "resumed" and state["iteration"] == 4 and state["checkpoints_done"] == [0, 2]
    assert state["active"] == [0, 1, 3]  # member 2 diverged in step 1 and left
    assert [w.shape[0] for w in state["weights"]] == [3, 3, 3]
    diverged = state["members"][2]
    assert diverged["finished"] and diverged["status"]["diverged_at"] == 1 and diverged["parameters"] is not None
    assert [row["iteration"] for row in state["members"][0]["rows"]] == [0, 2]
    for spec in specs():  # each member's checkpoint files in train_run's place for that run
        with RunStateDirectory(state_root / spec.run_id) as directory:
            assert list(directory.checkpoint_files()) == ([0] if spec.lr > 1 else [0, 2])


def test_state_of_other_members_is_discarded_and_locks_are_shared_with_train_run(tmp_path, monkeypatch, uninterrupted):
    state_root, log = tmp_path / "state", []
    paths = output_paths(tmp_path / "out", 4)
    changed = specs()
    changed[0].lr = 0.07  # same run ids (hence same directories), other numerics
    interrupt_after(monkeypatch, "forward", 20)
    with pytest.raises(Interrupted):
        train_bundle(changed, synthetic_data(), paths, state_root=state_root, state_interval_s=1e-9)
    monkeypatch.undo()
    with RunStateDirectory(state_root / specs()[1].run_id):  # a lone train job of member 1 holds its lock
        with pytest.raises(StateError, match="locked by another process"):
            train_bundle(specs(), synthetic_data(), paths, state_root=state_root)
    train_bundle(specs(), synthetic_data(), paths, state_root=state_root, log=log.append)
    assert any("another configuration" in message for message in log)
    assert_same_bundle_outputs(paths, uninterrupted)


def test_failing_member_keeps_the_state_and_a_rerun_fails_again_at_once(tmp_path, monkeypatch):
    state_root, paths = tmp_path / "state", output_paths(tmp_path / "out", 4)
    failing = specs(on_divergence="fail")
    with pytest.raises(FloatingPointError, match="toy/m2/s12"):
        train_bundle(failing, synthetic_data(), paths, state_root=state_root)
    assert (state_root / BUNDLE_STATE_DIR / bundle_name(s.run_id for s in failing) / "state.pt").exists()
    assert not any(p.exists() for p in paths[2].values())
    steps = []
    monkeypatch.setattr(sgnoise.training.bundle._members._Bundle, "step", lambda self, iteration: steps.append(iteration))
    with pytest.raises(FloatingPointError, match="toy/m2/s12"):
        train_bundle(failing, synthetic_data(), paths, state_root=state_root)
    assert steps == []  # resumed after the last step: nothing retrained
    assert json.loads(paths[0]["status"].read_text())["iterations_done"] == 25


# ----------------------------------------------------------------------------- the workflow: SIGKILL a bundle job

BUNDLE_RUNS = dict(dataset="mnist5k", model="fcn", depth=2, width=32, loss=["nll", "hinge"], batch_size=50, lr=0.1,
                   iterations=3000, seed=0)
BUNDLE_RUN_IDS = [f"mnist5k/fcn-d2-w32/{loss}/b50-lr0.1-it3000/s0" for loss in ("nll", "hinge")]
BUNDLE_TARGETS = [f"results/runs/{run}/status.json" for run in BUNDLE_RUN_IDS]


def bundle_workdir(path, prepared_dataset):
    (path / "resources/data").mkdir(parents=True)
    (path / "resources/data/mnist5k.npz").write_bytes(prepared_dataset.read_bytes())
    config = dict(study="bundle-kill", runs=[BUNDLE_RUNS],
                  train={"threads": 1, "bundle_size": "auto", "checkpoints": {"count": 5}, "state_interval_s": 0.2},
                  noise={"max_coords": 2000}, alpha={"methods": ["mohammadi"], "views": ["pooled"]}, sde={})
    (path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def start_bundle_snakemake(workdir):
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--configfile", str(workdir / "config.yaml"), "--cores", "1", *BUNDLE_TARGETS]
    output = open(workdir / f"snakemake-{time.monotonic_ns()}.out", "w")
    return subprocess.Popen(command, cwd=workdir, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)


@pytest.mark.workflow
def test_sigkilled_bundle_job_resumes_byte_identical(tmp_path, prepared_dataset):
    reference = bundle_workdir(tmp_path / "reference", prepared_dataset)
    uninterrupted = start_bundle_snakemake(reference)  # overlaps the killed attempt
    workdir = bundle_workdir(tmp_path / "killed", prepared_dataset)
    process = start_bundle_snakemake(workdir)
    states = workdir / "results/state" / BUNDLE_STATE_DIR
    deadline, done = time.monotonic() + 300, 0
    while done < 500:  # SGD steps saved in the bundle's state: past the first checkpoints
        assert time.monotonic() < deadline and process.poll() is None, "the bundle job never saved a state"
        try:
            done = max(torch.load(path, weights_only=True)["state"]["iteration"] for path in states.glob("*/state.pt"))
        except (ValueError, FileNotFoundError, RuntimeError, EOFError):  # none yet, or replaced while read
            pass
        time.sleep(0.02)
    trainers = [child for child in psutil.Process(process.pid).children(recursive=True)
                if any(arg.endswith(".train_bundle.py") for arg in child.cmdline())]
    assert trainers, "the bundle job was already gone"
    trainers[0].send_signal(signal.SIGKILL)
    assert process.wait(timeout=120) != 0
    assert not any((workdir / target).exists() for target in BUNDLE_TARGETS)
    snakemake(workdir, "--cores", "1", *BUNDLE_TARGETS, configfile=workdir / "config.yaml")  # the same command
    log = next((workdir / "logs/train_bundle").glob("*.log")).read_text()
    assert re.search(r"resuming bundle \w+ \(2 runs\) from \S+: (\d+) SGD steps done", log), log
    assert uninterrupted.wait(timeout=600) == 0
    for run in BUNDLE_RUN_IDS:
        got, expected = workdir / "results/runs" / run, reference / "results/runs" / run
        assert_same_h5(got / "noise.h5", expected / "noise.h5")
        for name in ("metrics.csv", "status.json"):
            assert (got / name).read_bytes() == (expected / name).read_bytes(), name
    assert not (workdir / "results/state").exists() and leftover_temporaries(workdir) == []
