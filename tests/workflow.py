"""Run the workflow from a scratch directory (never writing into the repository)."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "config.tiny.yaml"


def snakemake(workdir, *args, configfile=TINY, check=True, timeout=600, env=None):
    """``snakemake -s REPO/Snakefile --directory workdir --configfile configfile ARGS``; returns the result."""
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir)]
    if configfile is not None:
        command += ["--configfile", str(configfile)]
    command += [str(a) for a in args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, **(env or {})}, cwd=workdir)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed ({result.returncode}): {' '.join(command)}\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}")
    return result


def write_config(path, base=TINY, **changes):
    """A copy of ``base`` (a config file or dict) with top-level keys replaced (dict values merged
    one level deep), written as YAML."""
    config = copy.deepcopy(base) if isinstance(base, dict) else yaml.safe_load(Path(base).read_text())
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    Path(path).write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def planned_rules(dry_run_output: str) -> dict[str, int]:
    """Rule name → job count of the jobs a dry run would execute (from its job-stats table)."""
    rules, in_table = {}, False
    for line in dry_run_output.splitlines():
        parts = line.split()
        if parts[:2] == ["job", "count"]:
            in_table = True
            continue
        if in_table:
            if not parts or parts[0].startswith("-"):
                continue
            if parts[0] == "total":
                break
            rules[parts[0]] = int(parts[1])
    return rules
