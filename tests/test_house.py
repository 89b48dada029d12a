"""The shape of the house (docs/architecture.md): a one-way import graph, torch-free lower layers, public faces,
small modules, thin scripts and rules, and no references to notes outside the repository."""

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "sgnoise"
PACKAGES = ["data", "models", "noise", "sde", "tail", "study", "training", "aggregate", "iterates", "figures"]
TORCH_FREE = ["sgnoise.study", "sgnoise.data", "sgnoise.noise", "sgnoise.sde", "sgnoise.tail", "sgnoise.aggregate"]
MAX_MODULE_LINES = 350
MAX_SCRIPT_LINES = 25
MAX_COMMON_SMK_LINES = 80


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict:
    return {module_name(path): path for path in SRC.rglob("*.py")}


def imports_of(path: Path, known: set) -> set:
    """sgnoise modules ``path`` imports, at the top or inside a function (not under ``if TYPE_CHECKING``):
    ``from a.b import c`` names a.b.c when that is a module, else a.b."""
    found, tree = set(), ast.parse(path.read_text())
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING"
                   for n in ast.walk(node)}  # annotations only: never imported at run time
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("sgnoise")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sgnoise") and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in known else node.module)
    return found & known


def test_the_module_import_graph_is_one_way():
    known = modules()
    graph = {name: imports_of(path, set(known)) - {name} for name, path in known.items()}
    state, stack = {}, []

    def visit(name):
        state[name] = "open"
        stack.append(name)
        for other in sorted(graph[name]):
            if state.get(other) == "open":
                cycle = stack[stack.index(other):] + [other]
                pytest.fail("import cycle: " + " → ".join(cycle))
            if other not in state:
                visit(other)
        stack.pop()
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name)


# the floors of docs/architecture.md, bottom up: a module imports only modules on its own floor or below
FLOORS = {"sgnoise": 0, "sgnoise.atomic": 0, "sgnoise.data": 0, "sgnoise.sde": 0, "sgnoise.stable": 0,
          "sgnoise.noise.dump": 0, "sgnoise.study": 1, "sgnoise.tail": 2, "sgnoise.noise": 3, "sgnoise.aggregate": 3,
          "sgnoise.models": 3, "sgnoise.training": 4, "sgnoise.iterates": 5, "sgnoise.figures": 6, "sgnoise.api": 7}


def floor_of(module: str) -> int:
    prefix = max((p for p in FLOORS if module == p or module.startswith(p + ".")), key=len)
    return FLOORS[prefix]


def test_every_import_goes_to_the_same_floor_or_below():
    known = modules()
    upward = [f"{name} (floor {floor_of(name)}) imports {other} (floor {floor_of(other)})"
              for name, path in known.items() for other in sorted(imports_of(path, set(known)))
              if floor_of(other) > floor_of(name)]
    assert not upward, "imports that go up a floor:\n" + "\n".join(upward)


def test_the_study_imports_no_stage_above_it():
    """The workflow's rules import sgnoise.study only: it must stay importable without torch, the estimators or
    the figures."""
    known = modules()
    allowed = ("sgnoise.study", "sgnoise.data", "sgnoise.atomic", "sgnoise")
    for name, path in known.items():
        if name.startswith("sgnoise.study"):
            for other in imports_of(path, set(known)):
                assert other.startswith(allowed) and not other.startswith("sgnoise.data.download"), (name, other)


@pytest.mark.parametrize("package", TORCH_FREE)
def test_lower_layers_import_without_torch(package):
    code = f"import sys, {package}; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0, f"{package} imports torch"


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_has_a_public_face(package):
    module = importlib.import_module(f"sgnoise.{package}")
    assert module.__doc__ and len(module.__doc__.strip()) > 20, f"sgnoise.{package} has no docstring"
    public = getattr(module, "__all__", None)
    assert public, f"sgnoise.{package} has no __all__"
    missing = [name for name in public if not hasattr(module, name)]
    assert not missing, f"sgnoise.{package}.__all__ names what it does not define: {missing}"


def test_public_api_keeps_working():
    from sgnoise.sde import first_exit_times
    from sgnoise.tail import estimate_alpha

    with pytest.warns(DeprecationWarning, match="import from sgnoise.sde"):
        import sgnoise.stable
        importlib.reload(sgnoise.stable)
    from sgnoise.stable import sample_sas

    assert callable(first_exit_times) and callable(estimate_alpha)
    assert sample_sas(1.5, 10, rng=0).shape == (10,)


def test_modules_are_small():
    large = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not large, f"modules over {MAX_MODULE_LINES} lines: {large}"


def test_scripts_and_common_smk_are_thin():
    long = {p.name: n for p in (REPO / "scripts").glob("*.py") if (n := len(p.read_text().splitlines())) > MAX_SCRIPT_LINES}
    assert not long, f"scripts over {MAX_SCRIPT_LINES} lines: {long}"
    common = len((REPO / "rules/common.smk").read_text().splitlines())
    assert common <= MAX_COMMON_SMK_LINES, f"rules/common.smk has {common} lines"
    for script in (REPO / "scripts").glob("*.py"):  # stderr to the log first, then the library: no science here
        text = script.read_text()
        redirect, library = text.find("sys.stderr = open(snakemake.log[0]"), text.find("from sgnoise")
        assert 0 <= redirect < library, f"{script.name} does not send stderr to snakemake.log[0] before its work"
        assert not re.search(r"^(def|class) ", text, flags=re.M), f"{script.name} defines functions (put them in the library)"


def test_rule_files_hold_no_copied_rule_blocks():
    """No two rules of the .smk files share the same body with only a name changed (rules that differ by a name
    are generated by a loop)."""
    bodies = {}
    for path in (REPO / "rules").glob("*.smk"):
        for match in re.finditer(r"^rule (\w+):\n((?:[ \t]+.*\n|\n)+)", path.read_text(), flags=re.M):
            name, body = match.groups()
            shape = re.sub(r"[\"'][^\"']*[\"']", "S", re.sub(re.escape(name), "NAME", body))
            shape = re.sub(r"\s+", " ", shape).strip()
            assert shape not in bodies, f"rule {name} ({path.name}) copies rule {bodies.get(shape)}"
            bodies[shape] = f"{name} ({path.name})"


def test_nothing_cites_notes_outside_the_repository():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    pattern = re.compile(r"\b(PAPER|DESIGN|LAYOUT)\.md\b")
    citing = [f for f in tracked if f != "tests/test_house.py" and (REPO / f).is_file()
              and pattern.search((REPO / f).read_text(errors="ignore"))]
    assert not citing, f"files citing notes outside the repository: {citing}"
