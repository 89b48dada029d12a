"""A real one-node SLURM cluster on this machine, for workflow tests.

Brings up Debian's Slurm 22.05 (``slurmctld``, ``slurmd``, ``munge``) as root
without systemd, following docs/slurm.md: munged runs as the munge user,
``slurm.conf`` is written to a private state directory and symlinked to
``/etc/slurm/slurm.conf`` (the jobstep plugin drops ``SLURM_CONF``, so the
inner ``srun`` only finds the config there), ``slurmctld -D`` and ``slurmd -D``
run in the background and are stopped by PID.

Usage::

    reason = missing_prerequisites()      # None when the cluster can be built
    with SlurmCluster() as cluster:       # installs packages if needed
        ...                               # sbatch / snakemake --executor slurm
        cluster.cancel_jobs(name_prefix)  # optional, also done on exit

If a healthy cluster is already running, it is reused and nothing is stopped.
Only processes this helper started (munged, slurmctld, slurmd, and the
slurmstepd processes that appeared while it ran them) are ever signalled.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
REQUIRED_PROGRAMS = (
    "slurmctld",
    "slurmd",
    "sbatch",
    "squeue",
    "sinfo",
    "scancel",
    "scontrol",
    "munged",
    "munge",
    "unmunge",
)
SYSTEM_CONFIG = Path("/etc/slurm/slurm.conf")
DEFAULT_STATE_DIR = Path("/tmp/sgnoise-slurm-cluster")
PARTITION = "main"
# MinJobAge must exceed 3 x slurm-init-seconds-before-status-checks (plugin
# switches to sacct otherwise) and the plugin's longest gap between status
# checks (180 s), or finished jobs vanish from squeue before they are seen.
MIN_JOB_AGE_SECONDS = 300
ACTIVE_STATES = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED",
                 "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SIGNALING",
                 "STAGE_OUT", "STOPPED"}


class ClusterUnavailable(RuntimeError):
    """The cluster cannot be brought up here (the message says why)."""


class ForeignConfiguration(ClusterUnavailable):
    """Another /etc/slurm/slurm.conf exists and no healthy cluster answers: hands off."""


def missing_prerequisites() -> str | None:
    """Why a cluster cannot be built on this machine, or None when it can.

    Needs root (daemons, /etc/slurm) and either the Slurm programs already
    installed or apt-get to install Debian's packages.
    """
    if os.name != "posix" or os.geteuid() != 0:
        return "needs root to run slurmctld/slurmd/munged and write /etc/slurm"
    if all(shutil.which(p) for p in REQUIRED_PROGRAMS):
        return None
    if shutil.which("apt-get") is None:
        return "Slurm is not installed and apt-get is not available to install it"
    return None


def install_packages(timeout: float = 600) -> None:
    """Install Debian's slurmctld, slurmd, slurm-client and munge if missing.

    Service start-up by the package scripts is suppressed with a temporary
    policy-rc.d (removed afterwards), so no daemon starts behind our back.
    """
    if all(shutil.which(p) for p in REQUIRED_PROGRAMS):
        return
    if shutil.which("apt-get") is None:
        raise ClusterUnavailable("Slurm is missing and apt-get is not available")
    policy = Path("/usr/sbin/policy-rc.d")
    created_policy = not policy.exists()
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        if created_policy:
            policy.write_text("#!/bin/sh\nexit 101\n")
            policy.chmod(0o755)
        for cmd in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES],
        ):
            done = subprocess.run(
                cmd, env=env, capture_output=True, text=True, timeout=timeout
            )
            if done.returncode != 0:
                raise ClusterUnavailable(
                    f"{' '.join(cmd)} failed ({done.returncode}):\n"
                    f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
                )
    finally:
        if created_policy and policy.exists():
            policy.unlink()
    missing = [p for p in REQUIRED_PROGRAMS if shutil.which(p) is None]
    if missing:
        raise ClusterUnavailable(f"still missing after apt-get install: {missing}")


def _run(cmd: list[str], timeout: float = 15) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (subprocess.TimeoutExpired, OSError) as error:
        return subprocess.CompletedProcess(cmd, 1, "", str(error))


def munge_works() -> bool:
    """True when a munged answers on the default socket (munge -n | unmunge)."""
    if shutil.which("munge") is None or shutil.which("unmunge") is None:
        return False
    token = _run(["munge", "-n"])
    if token.returncode != 0:
        return False
    try:
        check = subprocess.run(
            ["unmunge"], input=token.stdout, capture_output=True, text=True, timeout=15
        )
    except (subprocess.TimeoutExpired, OSError):
        return False
    return check.returncode == 0


def node_states() -> list[str]:
    """States of the cluster's nodes as sinfo reports them (empty when down)."""
    out = _run(["sinfo", "--noheader", "--Node", "--format=%T"])
    if out.returncode != 0:
        return []
    return [s.strip().rstrip("*~#$@+") for s in out.stdout.split() if s.strip()]


def cluster_is_healthy() -> bool:
    """True when slurmctld answers and at least one node can run jobs."""
    if not SYSTEM_CONFIG.exists() or shutil.which("scontrol") is None:
        return False
    ping = _run(["scontrol", "ping"])
    if ping.returncode != 0 or "UP" not in ping.stdout:
        return False
    usable = {"idle", "mixed", "allocated", "completing"}
    return any(state in usable for state in node_states())


def live_pids(programs: tuple[str, ...] | str) -> set[int]:
    """PIDs of live (not zombie) processes whose executable name is in ``programs``."""
    names = {programs} if isinstance(programs, str) else set(programs)
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if comm in names and state != "Z":
            pids.add(int(entry.name))
    return pids


def node_memory_mb() -> int:
    """RealMemory of this machine as slurmd reports it (``slurmd -C``), in MB."""
    out = _run(["slurmd", "-C"])
    match = re.search(r"RealMemory=(\d+)", out.stdout)
    if not match:
        raise ClusterUnavailable(f"slurmd -C gave no RealMemory: {out.stderr or out.stdout}")
    return int(match.group(1))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie counts as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _terminate(process: subprocess.Popen | int, timeout: float = 15) -> None:
    """SIGTERM one process by PID, SIGKILL it if it outlives ``timeout``."""
    pid = process if isinstance(process, int) else process.pid
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if isinstance(process, subprocess.Popen):
                if process.poll() is not None:
                    return
            elif not _alive(pid):
                return
            time.sleep(0.1)
    if isinstance(process, subprocess.Popen):
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def _exit_on_sigterm(signum, frame):
    """SIGTERM -> SystemExit, so that context managers and atexit stop our daemons."""
    raise SystemExit(128 + signum)


def node_definition() -> str:
    """The node line for slurm.conf: ``slurmd -C`` plus NodeAddr=127.0.0.1."""
    out = _run(["slurmd", "-C"])
    if out.returncode != 0 or not out.stdout.startswith("NodeName="):
        raise ClusterUnavailable(f"slurmd -C failed: {out.stderr or out.stdout}")
    line = out.stdout.splitlines()[0].strip()
    return f"{line} NodeAddr=127.0.0.1 State=UNKNOWN"


def render_slurm_conf(state_dir: Path, node_line: str, controller: str) -> str:
    """A minimal single-node slurm.conf: no cgroups, no accounting, cons_tres."""
    node_name = re.search(r"NodeName=(\S+)", node_line).group(1)
    return "\n".join(
        [
            "# written by tests/slurm_cluster.py (sgnoise); removed on teardown",
            "ClusterName=sgnoise-test",
            f"SlurmctldHost={controller}(127.0.0.1)",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            f"StateSaveLocation={state_dir / 'slurmctld'}",
            f"SlurmdSpoolDir={state_dir / 'slurmd'}",
            f"SlurmctldPidFile={state_dir / 'slurmctld.pid'}",
            f"SlurmdPidFile={state_dir / 'slurmd.pid'}",
            f"SlurmctldLogFile={state_dir / 'slurmctld.log'}",
            f"SlurmdLogFile={state_dir / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "SchedulerType=sched/backfill",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "ReturnToService=2",
            f"MinJobAge={MIN_JOB_AGE_SECONDS}",
            "KillWait=5",
            "SlurmdTimeout=60",
            "InactiveLimit=0",
            "MpiDefault=none",
            f"{node_line}",
            f"PartitionName={PARTITION} Nodes={node_name} Default=YES "
            "MaxTime=INFINITE State=UP",
            "",
        ]
    )


class SlurmCluster:
    """Bring up (or reuse) a one-node SLURM cluster; tear down only our part.

    ``start()`` installs the packages if missing, then either reuses a healthy
    running cluster (``reused`` is True, ``stop()`` stops nothing) or starts
    munged (if no munged answers), slurmctld and slurmd, and waits until the
    node is idle. ``stop()`` cancels the jobs it was asked to track, stops the
    daemons it started by PID, and removes the /etc/slurm/slurm.conf symlink
    it created.
    """

    def __init__(self, state_dir: Path | str = DEFAULT_STATE_DIR):
        self.state_dir = Path(state_dir)
        self.reused = False
        self.started: dict[str, subprocess.Popen] = {}
        self.created_symlink = False
        self.job_name_prefixes: set[str] = set()
        self._stepd_before: set[int] | None = None
        self._previous_sigterm = None

    # -- bring-up ---------------------------------------------------------
    def start(self, timeout: float = 120) -> "SlurmCluster":
        reason = missing_prerequisites()
        if reason:
            raise ClusterUnavailable(reason)
        install_packages()
        if cluster_is_healthy():
            self.reused = True
            return self
        # stop our daemons on interpreter exit and on SIGTERM too, not only on stop()
        atexit.register(self.stop)
        if threading.current_thread() is threading.main_thread():
            self._previous_sigterm = signal.signal(signal.SIGTERM, _exit_on_sigterm)
        try:
            self._claim_system_config()
            self._prepare_state_dir()
            self._start_munge()
            self._stepd_before = live_pids("slurmstepd")
            self._write_config()
            self._start_daemons()
            self.wait_until_idle(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _claim_system_config(self) -> None:
        ours = self.state_dir / "slurm.conf"
        if SYSTEM_CONFIG.is_symlink() and Path(os.readlink(SYSTEM_CONFIG)) == ours:
            # left behind by an earlier run of this helper that died: ours
            SYSTEM_CONFIG.unlink()
        if SYSTEM_CONFIG.exists() or SYSTEM_CONFIG.is_symlink():
            raise ForeignConfiguration(
                f"{SYSTEM_CONFIG} exists and is not ours, but no healthy cluster "
                "answers; not overwriting another SLURM configuration"
            )

    def _start_munge(self) -> None:
        if munge_works():
            return
        key = Path("/etc/munge/munge.key")
        for directory in (Path("/run/munge"), Path("/var/log/munge"),
                          Path("/var/lib/munge"), key.parent):
            directory.mkdir(parents=True, exist_ok=True)
            shutil.chown(directory, "munge", "munge")
        Path("/run/munge").chmod(0o755)
        key.parent.chmod(0o700)
        if not key.exists():
            created = _run(["mungekey", "--create", f"--keyfile={key}"])
            if created.returncode != 0:
                key.write_bytes(os.urandom(1024))
            shutil.chown(key, "munge", "munge")
            key.chmod(0o600)
        log = open(self.state_dir / "munged.out", "w")
        self.started["munged"] = subprocess.Popen(
            ["munged", "--foreground", "--force"],
            user="munge", group="munge", stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()
        self._wait(munge_works, 20, "munged to answer (munge -n | unmunge)",
                   "munged")

    def _prepare_state_dir(self) -> None:
        if self.state_dir.exists():
            shutil.rmtree(self.state_dir)
        for sub in ("slurmctld", "slurmd"):
            (self.state_dir / sub).mkdir(parents=True)

    def _write_config(self) -> None:
        config = self.state_dir / "slurm.conf"
        controller = socket.gethostname().split(".")[0]
        config.write_text(
            render_slurm_conf(self.state_dir, node_definition(), controller)
        )
        SYSTEM_CONFIG.parent.mkdir(parents=True, exist_ok=True)
        SYSTEM_CONFIG.symlink_to(config)
        self.created_symlink = True

    def _start_daemons(self) -> None:
        for name, cmd in (
            ("slurmctld", ["slurmctld", "-D", "-c", "-i"]),
            ("slurmd", ["slurmd", "-D"]),
        ):
            log = open(self.state_dir / f"{name}.out", "w")
            self.started[name] = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
            log.close()
            if name == "slurmctld":
                self._wait(lambda: "UP" in _run(["scontrol", "ping"]).stdout,
                           30, "slurmctld to answer scontrol ping", name)

    def _wait(self, ready, timeout: float, what: str, daemon: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            process = self.started.get(daemon)
            if process is not None and process.poll() is not None:
                raise ClusterUnavailable(
                    f"{daemon} exited with {process.returncode} while waiting "
                    f"for {what}; see {self.diagnostics()}"
                )
            time.sleep(0.5)
        raise ClusterUnavailable(f"timed out after {timeout} s waiting for {what}")

    def wait_until_idle(self, timeout: float = 120) -> None:
        """Block until every node reports ``idle``."""
        def idle():
            states = node_states()
            return bool(states) and all(s == "idle" for s in states)
        self._wait(idle, timeout, "the node to become idle", "slurmd")

    def diagnostics(self) -> str:
        """Last lines of the daemons' logs, for failure messages."""
        parts = []
        for name in ("slurmctld.log", "slurmd.log", "slurmctld.out", "slurmd.out"):
            path = self.state_dir / name
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-15:]
                parts.append(f"--- {path}\n" + "\n".join(tail))
        return "\n".join(parts) or "(no daemon logs)"

    # -- jobs -------------------------------------------------------------
    def track_jobs(self, name_prefix: str) -> None:
        """Cancel jobs whose name starts with ``name_prefix`` on ``stop()``."""
        self.job_name_prefixes.add(name_prefix)

    @staticmethod
    def jobs(name_prefix: str = "") -> dict[str, dict[str, str]]:
        """Queued, running and recently finished jobs (kept MinJobAge seconds) by id.

        Each value holds the job's ``name``, ``state``, ``cpus``, ``time_limit`` and
        ``comment`` (the plugin writes ``rule_<name>...`` there) as squeue prints them; only
        names starting with ``name_prefix`` are listed.
        """
        fields = ("name", "state", "cpus", "time_limit", "comment")
        out = _run(["squeue", "--noheader", "--states=all", "--format=%i|%j|%T|%C|%l|%k"])
        found = {}
        for line in out.stdout.splitlines():
            values = line.strip().split("|", len(fields))
            if len(values) == len(fields) + 1 and values[1].startswith(name_prefix):
                found[values[0]] = dict(zip(fields, (v.strip() for v in values[1:])))
        return found

    def job_states(self, name_prefix: str = "") -> dict[str, str]:
        """Job id -> SLURM state (COMPLETED, FAILED, RUNNING...) for that name prefix."""
        return {job_id: job["state"] for job_id, job in self.jobs(name_prefix).items()}

    def job_ids(self, name_prefix: str = "", active_only: bool = False) -> list[str]:
        """Ids of the jobs with that name prefix; only pending/running ones if asked."""
        return [job_id for job_id, job in self.jobs(name_prefix).items()
                if not active_only or job["state"] in ACTIVE_STATES]

    def cancel_jobs(self, name_prefix: str, timeout: float = 30) -> None:
        """scancel every pending/running job whose name starts with the prefix, and wait."""
        ids = self.job_ids(name_prefix, active_only=True)
        if not ids:
            return
        _run(["scancel", *ids])
        deadline = time.monotonic() + timeout
        while self.job_ids(name_prefix, active_only=True) and time.monotonic() < deadline:
            time.sleep(0.5)

    # -- teardown ---------------------------------------------------------
    def stop(self) -> None:
        """Cancel tracked jobs, stop what we started (by PID), drop our symlink."""
        if shutil.which("squeue") and (self.started or self.reused):
            prefixes = set(self.job_name_prefixes)
            if self.started.get("slurmctld") is not None:
                prefixes.add("")  # our own cluster: cancel everything on it
            for prefix in prefixes:
                self.cancel_jobs(prefix)
        for name in ("slurmd", "slurmctld", "munged"):
            process = self.started.pop(name, None)
            if process is not None:
                _terminate(process)
        if self._stepd_before is not None:
            for pid in live_pids("slurmstepd") - self._stepd_before:
                _terminate(pid, timeout=5)
            self._stepd_before = None
        if self.created_symlink:
            if SYSTEM_CONFIG.is_symlink():
                SYSTEM_CONFIG.unlink()
            self.created_symlink = False
        if self._previous_sigterm is not None:
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None

    def __enter__(self) -> "SlurmCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
