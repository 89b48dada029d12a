"""Resumable training: the state directory (sgnoise.training.state), resuming train_run after an interruption
at any moment (bit-identical outputs), and the workflow kill tests (SIGKILL of the training job and
of snakemake itself, then the same command; outputs byte-identical to an uninterrupted run)."""

import errno
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import psutil
import pytest
import torch
import yaml

import sgnoise.training.outputs
import sgnoise.training.runtime
import sgnoise.training.single
from sgnoise.training.state import (RunStateDirectory, StateError, fingerprint, remove_stale_temporaries, restore_rng,
                           rng_snapshot)
from sgnoise.training import RunSpec, load_run_data, train_run
from test_train import synthetic_data
from workflow import REPO, snakemake



@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models run fastest, and alike on any machine, on one thread (the workflow sets it from config)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ----------------------------------------------------------------------------- helpers shared with test_faults


def h5_contents(path) -> dict:
    """Every dataset (as an array) and every attribute of an HDF5 file, keyed by object path."""
    out = {}
    with h5py.File(path, "r") as file:
        out["/@"] = {key: _plain(value) for key, value in file.attrs.items()}

        def visit(name, obj):
            out[f"{name}@"] = {key: _plain(value) for key, value in obj.attrs.items()}
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
        file.visititems(visit)
    return out


def _plain(value):
    return value.tolist() if isinstance(value, np.ndarray) else value


def assert_same_h5(a, b):
    """Dataset by dataset (bitwise, NaN-aware) and attribute by attribute equality of two HDF5 files."""
    left, right = h5_contents(a), h5_contents(b)
    assert sorted(left) == sorted(right), f"{a} and {b} hold different objects"
    for key in left:
        x, y = left[key], right[key]
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.shape == y.shape, key
            same = x.tolist() == y.tolist() if x.dtype == object else x.tobytes() == y.tobytes()
            assert same, f"dataset {key} differs between {a} and {b}"
        else:
            assert json.dumps(x, sort_keys=True, default=str) == json.dumps(y, sort_keys=True, default=str), key


def leftover_temporaries(root) -> list[Path]:
    """Partial dumps and atomic-write temporaries anywhere under ``root``."""
    root = Path(root)
    return [p for p in root.rglob("*") if p.is_file() and ".snakemake" not in p.parts
            and (p.name.endswith(".partial") or (p.name.startswith(".") and ".tmp" in p.name))]


# ----------------------------------------------------------------------------- sgnoise.training.state


def test_fingerprint_depends_on_every_value_not_on_key_order():
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1, "b": [1, 2]}) != fingerprint({"a": 1, "b": [2, 1]})
    assert fingerprint({"a": 1}) != fingerprint({"a": 1.5})


def _draws(generator):
    return (random.random(), float(np.random.random()), float(torch.rand(1)), float(torch.rand(1, generator=generator)))


def test_rng_snapshot_restores_every_stream_and_survives_weights_only_load(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    generator = torch.Generator().manual_seed(4)
    np.random.normal()  # leave numpy with a cached Gaussian, part of its state
    snapshot = rng_snapshot({"order": generator})
    expected = [_draws(generator) for _ in range(3)]
    with RunStateDirectory(tmp_path / "s") as directory:
        directory.save_state({"rng": snapshot}, "f")
        loaded, reason = directory.load_state("f")
    assert reason == "resumed"
    random.seed(9), np.random.seed(9), torch.manual_seed(9), generator.manual_seed(9)
    restore_rng(loaded["rng"], {"order": generator})
    assert [_draws(generator) for _ in range(3)] == expected
    with pytest.raises(StateError, match="other"):
        restore_rng(loaded["rng"], {"other": torch.Generator()})


def test_state_of_another_fingerprint_or_unreadable_is_not_resumed(tmp_path):
    with RunStateDirectory(tmp_path / "s") as directory:
        assert directory.load_state("f") == (None, "no saved state")
        directory.save_state({"iteration": 3}, "f")
        state, reason = directory.load_state("g")
        assert state is None and "another configuration" in reason
        directory.state_path.write_bytes(b"not a torch file")
        state, reason = directory.load_state("f")
        assert state is None and "unreadable" in reason and "state.pt" in reason


def test_checkpoint_files_roundtrip_and_pruning(tmp_path):
    arrays = dict(noise=np.arange(6, dtype=np.float32).reshape(2, 3), full_gradient=np.ones(3, np.float32))
    attrs = dict(iteration=5, train_loss=0.1 + 0.2, test_loss=float("nan"))
    with RunStateDirectory(tmp_path / "s") as directory:
        for iteration in (0, 5, 7):
            directory.save_checkpoint(iteration, arrays, attrs)
        back, back_attrs = directory.load_checkpoint(5)
        assert back["noise"].tobytes() == arrays["noise"].tobytes() and back["noise"].dtype == np.float32
        assert back_attrs["train_loss"] == 0.1 + 0.2 and np.isnan(back_attrs["test_loss"])
        directory.keep_checkpoints([0, 5])
        assert list(directory.checkpoint_files()) == [0, 5]
        (directory.path / "checkpoint-00000005.npz").write_bytes(b"garbage")
        with pytest.raises(StateError, match="checkpoint-00000005.npz"):
            directory.load_checkpoint(5)


def test_lock_refuses_a_second_trainer_and_names_the_pid(tmp_path):
    with RunStateDirectory(tmp_path / "s"):
        with pytest.raises(StateError, match=f"pid {os.getpid()}"):
            RunStateDirectory(tmp_path / "s").__enter__()
    with RunStateDirectory(tmp_path / "s"):  # released on exit
        pass


def test_entering_removes_temporaries_of_killed_writers_and_remove_prunes_to_root(tmp_path):
    root = tmp_path / "state"
    path = root / "ds" / "model" / "s0"
    path.mkdir(parents=True)
    (path / ".state.pt.abc123.tmp.pt").write_bytes(b"half")
    (path / ".checkpoint-00000003.npz.x1.tmp.npz").write_bytes(b"half")
    (path / "noise.h5.partial").write_bytes(b"half")
    (root / "ds" / "other").mkdir()
    with RunStateDirectory(path, root=root) as directory:
        assert sorted(p.name for p in path.iterdir()) == ["lock"]
        directory.remove()
    assert not (root / "ds" / "model").exists() and (root / "ds" / "other").exists()
    with RunStateDirectory(root / "ds" / "other" / "s1", root=root) as directory:
        directory.remove()
    assert not root.exists() and tmp_path.exists()  # the root too, once empty, but nothing above it
    outputs = tmp_path / "out"
    outputs.mkdir()
    for name in (".metrics.csv.k2j.tmp.csv", "metrics.csv", ".other.csv.k2j.tmp.csv", ".status.json.zz.tmp.json"):
        (outputs / name).write_text("x")
    removed = remove_stale_temporaries(outputs, ["metrics.csv", "status.json"])
    assert sorted(p.name for p in removed) == [".metrics.csv.k2j.tmp.csv", ".status.json.zz.tmp.json"]
    assert sorted(p.name for p in outputs.iterdir()) == [".other.csv.k2j.tmp.csv", "metrics.csv"]


# ----------------------------------------------------------------------------- train_run resume


def make_spec(**changes):
    # 100 points, batch 30 → 3 mini-batches per epoch with 10 points left out: epochs and positions both matter
    values = dict(run_id="toy/fcn-d3-w8/nll/b30-lr0.1-it25/s0", dataset="toy", model={"model": "fcn", "depth": 3, "width": 8},
                  loss="nll", batch_size=30, lr=0.1, iterations=25, seed=0, checkpoints=[0, 2, 7, 25], max_coords=40,
                  lr_milestones=[1 / 3, 2 / 3], random_minibatches=3)
    values.update(changes)
    return RunSpec(**values)


class Interrupted(BaseException):
    """Stands in for a kill: raised from inside the loop, it skips every except-Exception handler."""


def interrupt_after(monkeypatch, n_loss_calls):
    """Make the n-th loss evaluation (steps, evaluations and noise passes all count) raise Interrupted."""
    real_get_loss = sgnoise.training.single.get_loss
    calls = [0]

    def get_loss(name):
        loss = real_get_loss(name)

        def counted(out, target):
            calls[0] += 1
            if calls[0] == n_loss_calls:
                raise Interrupted
            return loss(out, target)
        return counted
    monkeypatch.setattr(sgnoise.training.single, "get_loss", get_loss)


def train(out, spec, state_root, **options):
    return train_run(spec, synthetic_data(), out / "noise.h5", out / "metrics.csv", out / "status.json",
                     state_root=state_root, **options)


def assert_same_outputs(a, b):
    for name in ("metrics.csv", "status.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert_same_h5(a / "noise.h5", b / "noise.h5")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    train(out, make_spec(), None)
    return out


# Loss calls per process: a checkpoint makes 8 (train and test evaluation, 3 mini-batches, 3 random
# ones), an SGD step 1. From a fresh start: checkpoint 0 = calls 1-8, steps 0-1 = 9-10, checkpoint 2 =
# 11-18, steps 2-6 = 19-23, checkpoint 7 = 24-31, steps 7-24 = 32-49, checkpoint 25 = 50-57.
@pytest.mark.parametrize("kills", [[12], [1, 1, 1], [20, 3, 17], [54]])
def test_resume_after_interruptions_is_bit_identical(tmp_path, monkeypatch, uninterrupted, kills):
    # [12]: inside checkpoint 2's evaluation; [1, 1, 1]: before any state exists, three times;
    # [20, 3, 17]: SGD steps 3, then 5, then 13 (mid-epoch: 3 mini-batches per epoch); [54]: last noise pass
    state_root = tmp_path / "state"
    log = []
    for n_calls in kills:
        interrupt_after(monkeypatch, n_calls)
        with pytest.raises(Interrupted):
            train(tmp_path, make_spec(), state_root, state_interval_s=1e-9, log=log.append)
        monkeypatch.undo()
    train(tmp_path, make_spec(), state_root, state_interval_s=1e-9, log=log.append)
    assert_same_outputs(tmp_path, uninterrupted)
    assert not state_root.exists()
    assert leftover_temporaries(tmp_path) == []
    if kills != [1, 1, 1]:
        assert any(message.startswith("resuming") for message in log)


def test_wall_time_saves_land_between_checkpoints(tmp_path, monkeypatch):
    state_root = tmp_path / "state"
    interrupt_after(monkeypatch, 40)  # after the noise pass at iteration 7 and a few SGD steps
    with pytest.raises(Interrupted):
        train(tmp_path, make_spec(), state_root, state_interval_s=1e-9)
    with RunStateDirectory(state_root / make_spec().run_id) as directory:
        state, _ = directory.load_state(sgnoise.training.runtime.run_fingerprint(make_spec(), "cpu"))
        assert state["iteration"] not in make_spec().checkpoints and state["iteration"] > 7
        assert state["checkpoints_done"] == [0, 2, 7] and [r["iteration"] for r in state["rows"]] == [0, 2, 7]
        assert list(directory.checkpoint_files()) == [0, 2, 7]
    # without interval saves, the state stays at the last checkpoint
    state_root2 = tmp_path / "state2"
    monkeypatch.undo()
    interrupt_after(monkeypatch, 40)
    with pytest.raises(Interrupted):
        train(tmp_path, make_spec(), state_root2, state_interval_s=None)
    with RunStateDirectory(state_root2 / make_spec().run_id) as directory:
        state, _ = directory.load_state(sgnoise.training.runtime.run_fingerprint(make_spec(), "cpu"))
        assert state["iteration"] == 7


def test_state_of_another_config_is_discarded(tmp_path, monkeypatch, uninterrupted):
    state_root = tmp_path / "state"
    interrupt_after(monkeypatch, 40)
    with pytest.raises(Interrupted):
        train(tmp_path, make_spec(lr=0.05), state_root, state_interval_s=1e-9)  # same run id, other numerics
    monkeypatch.undo()
    log = []
    train(tmp_path, make_spec(), state_root, state_interval_s=1e-9, log=log.append)
    assert any("another configuration" in message for message in log)
    assert_same_outputs(tmp_path, uninterrupted)


def test_second_trainer_of_the_same_run_stops_with_a_clear_error(tmp_path):
    spec = make_spec()
    with RunStateDirectory(tmp_path / "state" / spec.run_id):
        with pytest.raises(StateError, match="locked by another process"):
            train(tmp_path, spec, tmp_path / "state")
    assert not (tmp_path / "noise.h5").exists()


def test_failed_divergence_keeps_state_for_the_rerun_and_leaves_no_outputs(tmp_path):
    spec = make_spec(lr=1e5, loss="hinge", on_divergence="fail")
    for _ in range(2):
        with pytest.raises(FloatingPointError, match="diverged at iteration"):
            train(tmp_path, spec, tmp_path / "state")
    assert (tmp_path / "state" / spec.run_id / "state.pt").exists()
    assert not (tmp_path / "noise.h5").exists() and not (tmp_path / "metrics.csv").exists()


def test_disk_full_keeps_the_last_state_and_leaves_no_partial_file(tmp_path, monkeypatch, uninterrupted):
    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    state_root = tmp_path / "state"
    interrupt_after(monkeypatch, 40)  # first a kill, so there is a state to keep
    with pytest.raises(Interrupted):
        train(tmp_path, make_spec(), state_root, state_interval_s=1e-9)
    monkeypatch.undo()
    real_save = torch.save
    monkeypatch.setattr(torch, "save", lambda obj, path: (real_save(obj, path), no_space()))  # half-written state
    with pytest.raises(OSError, match="No space left"):
        train(tmp_path, make_spec(), state_root, state_interval_s=1e-9)
    monkeypatch.undo()
    monkeypatch.setattr(sgnoise.training.outputs.NoiseDumpWriter, "add_checkpoint", no_space)  # full while assembling the dump
    with pytest.raises(OSError, match="No space left"):
        train(tmp_path, make_spec(), state_root, state_interval_s=1e-9)
    assert leftover_temporaries(tmp_path) == [] and not (tmp_path / "noise.h5").exists()
    monkeypatch.undo()
    log = []
    train(tmp_path, make_spec(), state_root, state_interval_s=1e-9, log=log.append)
    assert any(message.startswith("resuming") for message in log)
    assert_same_outputs(tmp_path, uninterrupted)


def test_stale_output_temporaries_are_removed(tmp_path, uninterrupted):
    (tmp_path / ".metrics.csv.abc.tmp.csv").write_text("half")
    train(tmp_path, make_spec(), tmp_path / "state")
    assert leftover_temporaries(tmp_path) == []
    assert_same_outputs(tmp_path, uninterrupted)


def test_damaged_dataset_archive_is_a_value_error_naming_the_file(tmp_path):
    from sgnoise.data import save_prepared

    arrays = dict(train_images=np.full((10, 1, 2, 2), 3, np.uint8), train_labels=np.arange(10),
                  test_images=np.zeros((4, 1, 2, 2), np.uint8), test_labels=np.arange(4),
                  mean=np.array([0.1]), std=np.array([0.3]), num_classes=np.int64(10))
    path = tmp_path / "toy.npz"
    save_prepared(arrays, path)
    assert load_run_data(path)["train_x"].shape == (10, 1, 2, 2)
    data = bytearray(path.read_bytes())
    data[data.find(b"\x03\x03\x03\x03")] ^= 0xFF  # one flipped bit pattern inside the images: zip CRC-32 mismatch
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="toy.npz.*damaged.*CRC"):
        load_run_data(path)
    path.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(ValueError, match="toy.npz"):
        load_run_data(path)


# ----------------------------------------------------------------------------- workflow kill tests

# One run long enough (several seconds of SGD after its first checkpoint) to be killed at random moments.
KILL_RUN = dict(dataset="mnist5k", model="fcn", depth=3, width=64, loss="nll", batch_size=50, lr=0.1,
                iterations=4000, seed=0)
KILL_RUN_ID = "mnist5k/fcn-d3-w64/nll/b50-lr0.1-it4000/s0"
KILL_TARGET = f"results/runs/{KILL_RUN_ID}/alpha.csv"
KILL_SEED = 7
OUTPUTS = ["noise.h5", "metrics.csv", "status.json", "alpha.csv"]


def kill_config(path):
    """The kill study's config (self-contained, so changes to the tiny test config cannot break it)."""
    config = dict(study="kill", runs=[KILL_RUN], train={"threads": 1, "checkpoints": {"count": 5}, "state_interval_s": 0.25},
                  noise={"max_coords": 2000}, alpha={"methods": ["mohammadi"], "views": ["pooled"]}, sde={})
    Path(path).write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def start_snakemake(workdir, config, *args):
    """Snakemake in its own session (so it and its jobs can be told apart from pytest), output to a file."""
    output = workdir / f"snakemake-{time.monotonic_ns()}.out"
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--configfile", str(config), "--cores", "1", *args, KILL_TARGET]
    with open(output, "w") as handle:
        process = subprocess.Popen(command, cwd=workdir, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    process.stdout_path = output
    return process


def trainer_of(process: subprocess.Popen):
    """The python process running the train rule's script under ``process`` (None if there is none)."""
    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return None
    for child in children:
        try:
            if child.name().startswith("python") and any(arg.endswith(".train.py") for arg in child.cmdline()):
                return child
        except psutil.NoSuchProcess:
            continue
    return None


def wait_for_progress(workdir, process, since, steps, timeout=300):
    """Block until the training job of ``process`` has saved (after ``since``) a state with at least
    ``steps`` SGD steps done; return that number."""
    state = workdir / "results/state" / KILL_RUN_ID / "state.pt"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"snakemake ended ({process.returncode}) before the state reached {steps} steps"
        try:
            if state.stat().st_mtime >= since:
                done = torch.load(state, weights_only=True)["state"]["iteration"]
                if done >= steps:
                    return done
        except (FileNotFoundError, RuntimeError, EOFError):  # not there yet, or replaced while read
            pass
        time.sleep(0.02)
    raise AssertionError(f"the training job never saved a state with {steps} SGD steps")


def resumed_steps(workdir):
    """SGD steps already done when the last training job of ``workdir`` resumed (None: it started afresh)."""
    log = (workdir / "logs/train" / f"{KILL_RUN_ID}.log").read_text()
    found = re.search(r"resuming \S+ from \S+: (\d+) SGD steps done", log)
    return int(found.group(1)) if found else None


def run_to_end(process: subprocess.Popen, what: str):
    if process.wait(timeout=600) != 0:
        raise AssertionError(f"{what} failed ({process.returncode}):\n" + Path(process.stdout_path).read_text()[-4000:])


@pytest.fixture(scope="module")
def prepared_dataset(tmp_path_factory):
    """mnist5k prepared once, in this process, and copied into every work directory (saves a job each)."""
    from sgnoise.data import prepare_mnist5k, save_prepared

    path = tmp_path_factory.mktemp("data") / "mnist5k.npz"
    save_prepared(prepare_mnist5k(seed=0), path)
    return path


def new_workdir(path, prepared_dataset):
    (path / "resources/data").mkdir(parents=True)
    (path / "resources/data/mnist5k.npz").write_bytes(prepared_dataset.read_bytes())
    return path, kill_config(path / "config.yaml")


@pytest.fixture(scope="module")
def uninterrupted_study(tmp_path_factory, prepared_dataset):
    """The uninterrupted run, started in the background (it overlaps the kill trials); call to wait for it."""
    workdir, config = new_workdir(tmp_path_factory.mktemp("kill-reference"), prepared_dataset)
    process = start_snakemake(workdir, config)

    def finished():
        run_to_end(process, "the uninterrupted run")
        return workdir
    yield finished
    if process.poll() is None:  # the test failed early: stop what we started
        process.kill()
        process.wait()


def assert_same_run_outputs(workdir, reference):
    run, expected = workdir / "results/runs" / KILL_RUN_ID, reference / "results/runs" / KILL_RUN_ID
    assert_same_h5(run / "noise.h5", expected / "noise.h5")
    for name in OUTPUTS[1:]:
        assert (run / name).read_bytes() == (expected / name).read_bytes(), f"{name} differs from the uninterrupted run"
    assert leftover_temporaries(workdir) == []
    assert not (workdir / "results/state").exists(), "training state left behind after a finished run"


def sigkill_training_job(process, trial):
    trainer = trainer_of(process)
    assert trainer is not None, f"trial {trial}: the training job was already gone"
    trainer.send_signal(signal.SIGKILL)
    assert process.wait(timeout=120) != 0, f"trial {trial}: snakemake did not notice the killed job"


def sigkill_snakemake_and_its_jobs(process):
    """What a lost login node does: snakemake and every process it started die at once."""
    assert trainer_of(process) is not None, "the training job was already gone"
    doomed = [psutil.Process(process.pid)] + psutil.Process(process.pid).children(recursive=True)
    for victim in doomed:
        try:
            victim.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    process.wait(timeout=60)
    psutil.wait_procs(doomed, timeout=30)


@pytest.mark.workflow
def test_sigkills_at_seeded_moments_then_same_command_is_byte_identical(tmp_path, prepared_dataset, uninterrupted_study):
    """Three SIGKILLs of the training job, then one of snakemake with all its jobs, each at a seeded
    random moment after a fresh state save; after `snakemake --unlock`, the same command finishes with
    outputs byte-identical to the uninterrupted run and nothing temporary left."""
    workdir, config = new_workdir(tmp_path, prepared_dataset)
    rng = random.Random(KILL_SEED)
    # kill points: seeded SGD step counts to reach (first checkpoint: step 0), then a seeded delay
    # of up to 0.2 s, so a kill can land anywhere (a step, a noise pass, a file write)
    targets = sorted(rng.sample(range(KILL_RUN["iterations"] * 4 // 5), 4))
    resumed_at = []
    for trial, target in enumerate(targets):
        since = time.time()
        process = start_snakemake(workdir, config)
        wait_for_progress(workdir, process, since, target)
        time.sleep(rng.uniform(0.0, 0.2))
        if trial < 3:
            sigkill_training_job(process, trial)
        else:
            sigkill_snakemake_and_its_jobs(process)
        resumed_at.append(resumed_steps(workdir))
    print(f"kill targets {targets}; attempts resumed after {resumed_at} SGD steps")  # shown with pytest -s
    # every attempt after the first resumed, at least where the previous one was killed
    assert resumed_at[0] is None, resumed_at
    assert all(resumed >= target for resumed, target in zip(resumed_at[1:], targets)), (resumed_at, targets)
    locked = snakemake(workdir, "--cores", "1", KILL_TARGET, configfile=config, check=False)
    assert locked.returncode != 0 and "LockException" in locked.stdout + locked.stderr
    snakemake(workdir, "--unlock", KILL_TARGET, configfile=config)
    snakemake(workdir, "--cores", "1", KILL_TARGET, configfile=config)  # the same command, run to the end
    assert resumed_steps(workdir) >= targets[-1]
    assert_same_run_outputs(workdir, uninterrupted_study())
