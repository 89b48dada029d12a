"""Every `snakemake` command in the README runs as written: each is dry-run (``-n`` appended) in the
repository against the configs it names. Skipped, each with its reason: commands that need conda
(no conda here), a finished study (``--report``: tests/test_workflow.py builds a report) or that are
placeholders (``<rule>``)."""

import re
import shlex
import subprocess
import sys

import pytest

from workflow import REPO

SKIP = {
    "--sdm conda": "needs conda, absent here (tests/test_envs.py checks the env files and the lint with --sdm conda)",
    "--report": "needs a finished study (tests/test_workflow.py::test_report_contains_every_figure builds one)",
    "<": "a placeholder, not a command",
}
RUN_AS_IS = ("--lint", "--unlock")  # no dry run flag: these do not run jobs


def readme_commands() -> list[str]:
    """The snakemake command lines of README.md: lines of fenced code blocks and inline code spans."""
    text = (REPO / "README.md").read_text()
    commands, fenced, prose = [], False, []
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            if line.strip().startswith("snakemake"):
                commands.append(line.strip())
        else:
            prose.append(line)
    for span in re.findall(r"`([^`]+)`", " ".join(prose)):
        if span.strip().startswith("snakemake "):
            commands.append(span.strip())
    return list(dict.fromkeys(commands))


def test_the_readme_has_the_quick_start_and_slurm_commands():
    commands = readme_commands()
    assert "snakemake --cores 8" in commands
    assert "snakemake --workflow-profile profiles/slurm --configfile configs/paper.yaml" in commands
    assert any("--config 'noise=" in c for c in commands)


@pytest.mark.workflow
@pytest.mark.parametrize("command", readme_commands())
def test_readme_command_runs_as_written(command):
    reason = next((why for marker, why in SKIP.items() if marker in command and "--lint" not in command), None)
    if reason:
        pytest.skip(reason)
    words = shlex.split(command)
    args = words[1:] + ([] if any(flag in words for flag in RUN_AS_IS) else ["-n"])
    result = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=REPO, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    assert "Error" not in result.stderr.split("Building DAG")[0], result.stderr[-2000:]
