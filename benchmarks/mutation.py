"""Mutation testing of the core library modules with mutmut's mutation operators.

    pip install -r requirements-mutation.txt
    python benchmarks/mutation.py [module ...] [--sample N] [--seed S] [--survivors]

For each module (default: all of MODULES) every mutant mutmut generates (or a seeded random sample of
--sample of them, default: SAMPLE per module) is written into a private copy of src/ and only the fast
test files that cover the module (MODULES) are run against it, with ``pytest -x``. A mutant is killed
when those tests fail (or time out), survives when they pass. The source tree is never modified.

Not part of the default pytest run. Cost: one forked pytest per mutant; numpy, scipy, torch and
pytest are imported once in the parent, so a mutant costs its tests' run time only. One mutant at a
time (CPU is scarce on the study's 2-core machines).

Results: benchmarks/results/mutation/<module>.json (every mutant run: line, diff, status) and a
summary line per module; --survivors reruns only the previous run's survivors (after adding tests)
and updates that file. Reviewed survivors: docs/mutation-survivors.md; scores: docs/mutation.md.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "mutation"

# module (dotted, under sgnoise) -> (fast test files covering it, extra pytest args)
TAIL_TESTS = ["tests/test_tail.py", "tests/test_tail_extremes.py", "tests/test_tail_sharp.py"]
MODULES = {
    "tail._estimators": (TAIL_TESTS, []),
    "tail._extreme": (TAIL_TESTS, []),
    "tail._intervals": (TAIL_TESTS, []),
    "tail._columns": (TAIL_TESTS, []),
    "tail._normality": (TAIL_TESTS, []),
    "noise.measure": (["tests/test_noise.py", "tests/test_noise_cnn.py", "tests/test_pooled.py"], []),
    "tail.pooled": (["tests/test_pooled.py"], []),
    "tail.pooled_alpha": (["tests/test_pooled.py", "tests/test_two_way.py"], []),
    "models.losses": (["tests/test_models_losses.py"], []),
    "sde.simulate": (["tests/test_sde.py", "tests/test_sde_sweeps.py"], ["-k", "not figure"]),
    "sde.theory": (["tests/test_sde.py", "tests/test_sde_sweeps.py"], ["-k", "not figure"]),
    "sde.levy": (["tests/test_stable.py"], []),
    "study.naming": (["tests/test_runs.py"], []),
    "study.grid": (["tests/test_study_grid.py"], []),
    "noise.dump": (["tests/test_store.py"], []),
}
# modules too large for a full run on 2 cores are sampled (seeded); None = every mutant
SAMPLE = {"tail._estimators": 30, "tail._extreme": 20, "tail._intervals": 20, "tail._columns": 15,
          "tail._normality": 15, "sde.simulate": 15, "sde.theory": 10, "tail.pooled": 30, "tail.pooled_alpha": 30,
          "noise.measure": 50, "sde.levy": 50, "noise.dump": 60, "models.losses": None, "study.naming": None,
          "study.grid": 40}


def message_only(source: str, line_number: int) -> bool:
    """Mutants of error-message text (a ``raise`` line or a string continuation line) are not run:
    a changed message is not worth a test each (the tests match the messages' key words)."""
    line = source.splitlines()[line_number].strip()
    return line.startswith(("raise ", '"', "f\"", "'", "f'"))


def mutation_ids(source: str, filename: str) -> list:
    from mutmut import Context, list_mutations

    return list_mutations(Context(source=source, filename=filename))


def mutant(source: str, filename: str, rid) -> str:
    from mutmut import Context, mutate

    return mutate(Context(source=source, mutation_id=rid, filename=filename))[0]


def diff_lines(old: str, new: str) -> str:
    return "".join(line for line in difflib.unified_diff(old.splitlines(True), new.splitlines(True), n=0)
                   if line[:1] in "+-" and line[:3] not in ("+++", "---"))


def run_tests(src_dir: Path, tests: list[str], extra: list[str], timeout: float) -> tuple[str, float]:
    """Fork, point sys.path at ``src_dir`` and run pytest there; 'killed', 'survived' or 'timeout'."""
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # child: fresh sgnoise import from the mutant tree
        try:
            os.setpgid(0, 0)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            sys.path.insert(0, str(src_dir))
            os.environ["PYTHONPATH"] = str(src_dir)
            import pytest

            code = pytest.main(["-x", "-q", "-p", "no:cacheprovider", "--timeout", str(int(timeout)),
                                *extra, *[str(ROOT / t) for t in tests]])
        except BaseException:
            code = 99
        os._exit(int(code))
    deadline = start + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.perf_counter() > deadline:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout", time.perf_counter() - start
        time.sleep(0.05)
    code = os.waitstatus_to_exitcode(status)
    return ("survived" if code == 0 else "killed"), time.perf_counter() - start


def run_module(module: str, sample: int | None, seed: int, survivors_only: bool) -> dict:
    tests, extra = MODULES[module]
    tests = [t for t in tests if (ROOT / t).exists()]
    path = ROOT / "src" / "sgnoise" / (module.replace(".", "/") + ".py")
    source = path.read_text()
    every = mutation_ids(source, path.name)
    messages = {i for i, rid in enumerate(every) if message_only(source, rid.line_number)}
    out_file = RESULTS / f"{module}.json"
    previous = json.loads(out_file.read_text()) if out_file.exists() else None
    if survivors_only:
        if previous is None:
            raise SystemExit(f"{module}: no previous results in {out_file}")
        wanted = {m["id"] for m in previous["mutants"] if m["status"] == "survived"}
        chosen = [i for i in range(len(every)) if i in wanted]
    else:
        pool = [i for i in range(len(every)) if i not in messages]
        chosen = pool if sample is None or sample >= len(pool) else sorted(random.Random(seed).sample(pool, sample))
    with tempfile.TemporaryDirectory(prefix=f"mutation-{module}-") as tmp:
        src_dir = Path(tmp) / "src"
        shutil.copytree(ROOT / "src", src_dir, ignore=shutil.ignore_patterns("__pycache__"))
        target = src_dir / "sgnoise" / path.relative_to(ROOT / "src" / "sgnoise")
        status, baseline = run_tests(src_dir, tests, extra, timeout=600)
        if status != "survived":
            raise SystemExit(f"{module}: the tests {tests} fail on the unmutated code")
        timeout = 2 * baseline + 10
        results = []
        for n, i in enumerate(chosen):
            rid = every[i]
            mutated = mutant(source, path.name, rid)
            target.write_text(mutated)
            status, seconds = run_tests(src_dir, tests, extra, timeout)
            results.append({"id": i, "line_number": rid.line_number + 1, "status": status,
                            "seconds": round(seconds, 2), "diff": diff_lines(source, mutated)})
            print(f"{module} {n + 1}/{len(chosen)} #{i} line {rid.line_number + 1}: {status} ({seconds:.1f} s)",
                  flush=True)
        target.write_text(source)
    if survivors_only:  # update the previous run's records of these mutants
        by_id = {m["id"]: m for m in results}
        merged = [by_id.get(m["id"], m) for m in previous["mutants"]]
        record = dict(previous, mutants=merged, tests=tests)
    else:
        record = {"module": module, "generated": len(every), "message_only": len(messages), "sample": sample, "seed": seed, "tests": tests,
                  "baseline_s": round(baseline, 2), "mutants": results,
                  "first_killed": sum(m["status"] != "survived" for m in results)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps(record, indent=1) + "\n")
    return record


def summary(record: dict) -> str:
    counts = {s: sum(m["status"] == s for m in record["mutants"]) for s in ("killed", "timeout", "survived")}
    return (f"{record['module']}: generated {record['generated']} ({record['message_only']} message-only, not run), run {len(record['mutants'])}, killed "
            f"{counts['killed'] + counts['timeout']} ({counts['timeout']} by timeout), survived {counts['survived']}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", metavar="module", help=f"any of {', '.join(MODULES)}; default all")
    parser.add_argument("--sample", type=int, help="mutants per module (seeded sample); default SAMPLE")
    parser.add_argument("--all", action="store_true", help="every mutant of every module")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--survivors", action="store_true", help="rerun the previous run's survivors only")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.modules) - set(MODULES))
    if unknown:
        parser.error(f"unknown modules {unknown}; expected any of {', '.join(MODULES)}")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.dont_write_bytecode = True  # a same-size mutant written within a second must not reuse a .pyc
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    # imported once here, inherited by every forked test run (sgnoise itself is not imported here)
    import h5py  # noqa: F401
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import pytest  # noqa: F401
    import scipy.stats  # noqa: F401
    import torch

    torch.set_num_threads(1)
    lines = []
    for module in args.modules or list(MODULES):
        sample = None if args.all else (args.sample if args.sample is not None else SAMPLE[module])
        lines.append(summary(run_module(module, sample, args.seed, args.survivors)))
        print(lines[-1], flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
