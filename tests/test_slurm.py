"""The SLURM profile (profiles/slurm), checked on a real one-node SLURM cluster.

Cluster tests (marked ``slurm``) need root and apt-get (or Slurm already installed): they bring
up Debian's Slurm 22.05 with tests/slurm_cluster.py, run the tiny study through
``--workflow-profile profiles/slurm``, compare its α tables byte for byte with a local run, check
that a failing rule is reported, and leave no process they started. Elsewhere they are skipped
with the reason. The dry-run tests need no cluster: they check which jobs request GPUs and that
every small rule is grouped.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from slurm_cluster import (  # noqa: E402
    MIN_JOB_AGE_SECONDS,
    ClusterUnavailable,
    ForeignConfiguration,
    SlurmCluster,
    live_pids,
    missing_prerequisites,
    node_memory_mb,
)

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "profiles" / "slurm"
TINY = REPO / "tests" / "config.tiny.yaml"
FAIL_WORKFLOW = REPO / "tests" / "data" / "slurm_fail" / "Snakefile"
PAPER = REPO / "configs" / "paper.yaml"
# rules that run as one SLURM job each (training: a GPU each) or locally (downloads, `all`)
UNGROUPED_RULES = {"all", "train", "prepare_dataset", "download_dataset", "iterates_linear", "iterates_network"}
# rules that compute on the config's device (train.device, iterates.*.device): the only ones that may ask for a GPU
DEVICE_RULES = {"train", "iterates_linear", "iterates_network"}
DAEMONS = ("munged", "slurmctld", "slurmd", "slurmstepd")
# one job name prefix per pytest process: what we submit is recognisable and cancellable
JOB_PREFIX = f"sgnoisetest_{os.getpid()}"


def run_snakemake(workdir, *args, snakefile=REPO / "Snakefile", timeout=240):
    """Run snakemake in ``workdir``; returns the CompletedProcess (stdout and stderr merged)."""
    command = [sys.executable, "-m", "snakemake", "-s", str(snakefile),
               "--directory", str(workdir), *map(str, args)]
    try:
        return subprocess.run(command, cwd=workdir, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as error:
        output = error.output.decode() if isinstance(error.output, bytes) else error.output
        pytest.fail(f"snakemake timed out after {timeout} s: {' '.join(command)}\n"
                    f"{(output or '')[-4000:]}")


def through_profile(cluster_memory_mb):
    """Command-line additions for running profiles/slurm on the 2-CPU, GPU-less test node.

    A command-line ``--set-resources`` replaces the profile's whole ``set-resources``, so the
    profile's own entries are passed again, with only the training rule's GPU (none on the
    node), CPUs (the tiny config's train.threads) and, on a small node, memory changed.
    """
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    resources = {rule: dict(values) for rule, values in profile["set-resources"].items()}
    train = resources["train"]
    train["gpu"] = 0
    train["cpus_per_task"] = yaml.safe_load(TINY.read_text())["train"]["threads"]
    if cluster_memory_mb < train["mem_mb"]:
        train["mem_mb"] = cluster_memory_mb // 2
    return [
        "--workflow-profile", PROFILE,
        "--slurm-jobname-prefix", JOB_PREFIX,
        "--set-resources", *(f"{rule}:{key}={value}" for rule, values in resources.items()
                             for key, value in values.items()),
        # first status check after 8 s instead of 70 s (3 x 8 s stays far below MinJobAge)
        "--slurm-init-seconds-before-status-checks", "8",
        "--slurm-keep-successful-logs",
    ]


def workflow_rules() -> set[str]:
    """Names of all rules of the workflow, generated ones included (``snakemake --list-rules``)."""
    result = subprocess.run([sys.executable, "-m", "snakemake", "--list-rules"], cwd=REPO, capture_output=True, text=True,
                            check=True)
    return {line.strip() for line in result.stdout.splitlines() if re.fullmatch(r"\s*\w+\s*", line)}


def submitted_job_ids(output: str) -> list[str]:
    """SLURM job ids snakemake reports (``... submitted with SLURM jobid N``)."""
    return re.findall(r"submitted with SLURM jobid (\d+)", output)


def dry_run_jobs(output: str) -> list[dict]:
    """Jobs of a dry run: rule name, output line and resources (a dict) per job."""
    jobs = []
    for line in output.splitlines():
        stripped = line.strip()
        match = re.fullmatch(r"(?:local)?rule (\w+):", stripped)
        if match:
            jobs.append({"rule": match.group(1), "output": "", "resources": {}})
        elif jobs and stripped.startswith("output:"):
            jobs[-1]["output"] = stripped[len("output:"):].strip()
        elif jobs and stripped.startswith("resources:"):
            pairs = (item.split("=", 1) for item in stripped[len("resources:"):].split(", "))
            jobs[-1]["resources"] = {key.strip(): value for key, value in pairs}
    return jobs


# ---------------------------------------------------------------- dry runs (no cluster needed)
def paper_or_default_config():
    """configs/paper.yaml once it exists, else the default study (config.yaml)."""
    return PAPER if PAPER.exists() else REPO / "config.yaml"


@pytest.fixture(scope="module")
def profile_dry_run(tmp_path_factory):
    configfile = paper_or_default_config()
    workdir = tmp_path_factory.mktemp("slurm_dry_run")
    result = run_snakemake(workdir, "-n", "--workflow-profile", PROFILE, "--configfile", configfile)
    assert result.returncode == 0, result.stdout[-4000:]
    return configfile, result.stdout


@pytest.mark.workflow
def test_dry_run_requests_gpus_for_training_jobs_only(profile_dry_run):
    configfile, output = profile_dry_run
    jobs = [job for job in dry_run_jobs(output) if job["rule"] != "all"]
    train = [job for job in jobs if job["rule"] == "train"]
    others = [job for job in jobs if job["rule"] != "train"]
    assert train and others, f"no training or no other jobs in the dry run of {configfile}"
    assert all(job["resources"].get("gpu") == "1" for job in train)
    threads = yaml.safe_load(configfile.read_text()).get("train", {}).get("threads", 1)
    assert all(job["resources"].get("cpus_per_task") == str(threads) for job in train), \
        f"profiles/slurm train cpus_per_task differs from train.threads={threads} in {configfile}"
    gpu_elsewhere = {job["rule"] for job in others if "gpu" in job["resources"] and job["rule"] not in DEVICE_RULES}
    assert not gpu_elsewhere, f"GPU requested by non-training rules: {gpu_elsewhere}"


@pytest.mark.workflow
def test_dry_run_train_runtime_scales_with_iterations(profile_dry_run):
    _, output = profile_dry_run
    for job in dry_run_jobs(output):
        if job["rule"] == "train":
            iterations = int(re.search(r"-it(\d+)/", job["output"]).group(1))
            assert int(job["resources"]["runtime"]) == 30 + iterations // 400


@pytest.mark.workflow
def test_profile_groups_every_small_rule_and_names_only_real_rules(profile_dry_run):
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    assert "executor" not in yaml.safe_load((REPO / "profiles/default/config.yaml").read_text())
    unknown = set(profile["groups"]) - workflow_rules()
    assert not unknown, f"profiles/slurm groups name rules the workflow does not have: {unknown}"
    assert set(profile["groups"].values()) <= set(profile["group-components"])
    _, output = profile_dry_run
    planned = {job["rule"] for job in dry_run_jobs(output)}
    ungrouped = planned - set(profile["groups"]) - UNGROUPED_RULES
    assert not ungrouped, f"rules neither grouped in profiles/slurm nor run alone: {ungrouped}"
    assert "train" not in profile["groups"]


def test_status_checks_use_squeue_where_it_cannot_miss_a_job():
    """The plugin (2.8) queries squeue only if MinJobAge >= 3 x the first wait, else sacct;
    between checks it waits at most 180 s. The profile's wait keeps squeue to clusters where
    a finished job stays visible longer than that, and the test cluster is such a cluster."""
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    assert profile["slurm-status-command"] == "squeue"
    first_wait = profile["slurm-init-seconds-before-status-checks"]
    assert 3 * first_wait > 180
    assert MIN_JOB_AGE_SECONDS >= 3 * first_wait


# ---------------------------------------------------------------- real cluster
@pytest.fixture(scope="module")
def cluster():
    reason = missing_prerequisites()
    if reason:
        pytest.skip(f"real SLURM cluster not available: {reason}")
    before = live_pids(DAEMONS)
    started = time.monotonic()
    slurm = SlurmCluster()
    try:
        slurm.start()
    except ForeignConfiguration as error:
        pytest.skip(f"real SLURM cluster not available: {error}")
    except ClusterUnavailable as error:
        pytest.fail(f"could not bring up the SLURM cluster: {error}")
    slurm.track_jobs(JOB_PREFIX)
    print(f"SLURM cluster up in {time.monotonic() - started:.1f} s (reused: {slurm.reused})")
    yield slurm
    slurm.stop()  # also scancels whatever a failed test left queued
    survivors = live_pids(DAEMONS) - before
    assert not survivors, f"processes started by the test survived teardown: {survivors}"


def slurm_study(path: Path) -> Path:
    """The tiny study cut to three FCN runs, two of them one bundle (train.bundle_size: auto): its
    first grid at the first depth with both losses (a bundle job), and at the second depth with the
    first loss (a train job).

    Every SLURM job costs about 15 s of Snakemake start-up on the 2-CPU test machine (the job
    runs snakemake, which runs ``srun snakemake``), so the full tiny study (about 45 jobs) would
    take 15 minutes; these runs exercise the same rules, both GPU rules and a grouped job.
    """
    config = yaml.safe_load(TINY.read_text())
    first = {key: value[0] if isinstance(value, list) else value for key, value in config["runs"][0].items()}
    depths, losses = config["runs"][0]["depth"], config["runs"][0]["loss"]
    assert len(depths) >= 2 and len(losses) >= 2, "tests/config.tiny.yaml: the first grid needs 2 depths and 2 losses"
    config["runs"] = [dict(first, loss=losses[:2]), dict(first, depth=depths[1])]
    config["train"] = dict(config.get("train", {}), bundle_size="auto")
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.mark.slurm
def test_tiny_study_through_profile_matches_local_run(cluster, failing_run, tmp_path):
    configfile = slurm_study(tmp_path / "config.slurm.yaml")
    local, remote = tmp_path / "local", tmp_path / "slurm"
    local.mkdir()
    remote.mkdir()
    # every job up to the α tables; the local reference runs meanwhile (the SLURM run mostly
    # waits between status checks)
    until_alpha = ["--configfile", configfile, "--until", "alpha"]
    reference_output = tmp_path / "local.out"
    with open(reference_output, "w") as sink:
        reference = subprocess.Popen(
            [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
             str(local), *map(str, until_alpha), "--cores", "1"],
            cwd=local, stdout=sink, stderr=subprocess.STDOUT)
    try:
        through_slurm = run_snakemake(remote, *until_alpha, *through_profile(node_memory_mb()),
                                  timeout=240)
        reference.wait(timeout=240)
    finally:
        if reference.poll() is None:
            reference.kill()
            reference.wait()
    assert through_slurm.returncode == 0, through_slurm.stdout[-6000:]
    assert reference.returncode == 0, reference_output.read_text()[-6000:]
    assert "Falling back to 'sacct'" not in through_slurm.stdout  # squeue did the checks
    targets = sorted(path.relative_to(remote) for path in remote.glob("results/runs/**/alpha.csv"))
    assert len(targets) == 3
    for target in targets:
        assert (remote / target).read_bytes() == (local / target).read_bytes(), target

    # every job went through SLURM: ids reported by snakemake are in squeue's history, completed
    job_ids = submitted_job_ids(through_slurm.stdout)
    jobs = cluster.jobs(JOB_PREFIX)
    assert job_ids and set(job_ids) <= set(jobs), (job_ids, jobs)
    assert {jobs[job_id]["state"] for job_id in job_ids} == {"COMPLETED"}
    by_rule = [jobs[job_id]["comment"] for job_id in job_ids]  # rule_<rule or group>_...
    assert sum(comment.startswith("rule_train_bundle_") for comment in by_rule) == 1, by_rule  # 2 runs
    assert sum(comment.startswith("rule_train_") for comment in by_rule) == 2, by_rule
    (group,) = [jobs[i] for i in job_ids if jobs[i]["comment"].startswith("rule_per_run")]
    # the three α jobs run one after the other in one SLURM job: one CPU, the summed wall time
    alpha_minutes = eval(str(yaml.safe_load((PROFILE / "config.yaml").read_text())
                             ["set-resources"]["alpha"]["runtime"]), {"attempt": 1})
    assert group["cpus"] == "1", group
    assert group["time_limit"] == f"{3 * alpha_minutes}:00", group
    # SLURM's log of every job is where the profile puts it, and names the job
    for job_id in job_ids:
        (log,) = (remote / "logs" / "slurm").rglob(f"{job_id}.log")
        assert "Finished jobid" in log.read_text(errors="replace")


@pytest.fixture(scope="module")
def failing_run(cluster, tmp_path_factory):
    """tests/data/slurm_fail run through the profile, started in the background.

    It runs beside the tiny study (a test that requests this fixture starts it), which keeps the
    module under 5 minutes: both runs spend most of their time waiting for status checks.
    """
    workdir = tmp_path_factory.mktemp("slurm_fail")
    output = workdir / "snakemake.out"
    # --retries 0: the profile's retry would only rerun the deliberate failure
    command = [sys.executable, "-m", "snakemake", "-s", FAIL_WORKFLOW, "--directory", workdir,
               *through_profile(node_memory_mb()), "--retries", "0"]
    with open(output, "w") as sink:
        process = subprocess.Popen(list(map(str, command)), cwd=workdir, stdout=sink,
                                   stderr=subprocess.STDOUT)
    yield process, workdir, output
    if process.poll() is None:
        process.kill()
        process.wait()


@pytest.mark.slurm
def test_failing_rule_under_slurm_is_reported(cluster, failing_run):
    process, workdir, output = failing_run
    try:
        process.wait(timeout=240)
    except subprocess.TimeoutExpired:
        pytest.fail(f"snakemake did not end within 240 s:\n{output.read_text()[-4000:]}")
    stdout = output.read_text()
    assert process.returncode != 0
    assert "Error in rule broken_step" in stdout, stdout[-4000:]
    failed = re.search(r"SLURM-job '(\d+)' failed", stdout)
    assert failed, stdout[-4000:]
    job_id = failed.group(1)
    assert cluster.job_states(JOB_PREFIX)[job_id] == "FAILED"
    # the report names the rule's log and SLURM's log of the job; both exist and say why
    slurm_log = workdir / "logs" / "slurm" / "rule_broken_step" / f"{job_id}.log"
    assert f"log: logs/broken_step.log, {slurm_log}" in stdout, stdout[-4000:]
    log = (workdir / "logs" / "broken_step.log").read_text()
    assert f"fails on purpose in SLURM job {job_id}" in log
    assert "Error in rule broken_step" in slurm_log.read_text()
    assert not (workdir / "broken.txt").exists()
