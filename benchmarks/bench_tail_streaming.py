"""Streamed vs in-memory pooled Mohammadi α̂ over a 10^8-entry float32 noise dump.

    python benchmarks/bench_tail_streaming.py [--rows 1000] [--columns 100000] [--budget-mb 256]

Baseline ("in_memory"): read the whole K × M matrix (NoiseDump.noise_array) and call
sgnoise.tail.estimate_alpha. Candidate ("streamed"): sgnoise.tail.alpha_table with the pooled view,
the same estimator, no interval or normality test, and a memory budget well below the matrix, so the
matrix is read in row blocks. Each variant runs in its own subprocess (3 timed runs, median; one
more under tracemalloc for the peak of traced allocations, numpy's included); peak RSS is the
process's ru_maxrss. The dump lives under /tmp and is deleted afterwards. Prints a table and writes
benchmarks/results/bench_tail_streaming.json. Goal: streamed ≥ 0.5× the in-memory throughput with
< 25 % of its peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "bench_tail_streaming.json"
ITERATION = 1000


def make_dump(path: Path, rows: int, columns: int) -> None:
    from sgnoise.noise.dump import NoiseDumpWriter

    rng = np.random.default_rng(0)
    noise = np.empty((rows, columns), dtype=np.float32)
    for start in range(0, rows, 50):  # SαS(1.5)-like heavy tails: Student t with 1.5 degrees of freedom
        noise[start:start + 50] = rng.standard_t(1.5, size=(min(50, rows - start), columns))
    noise[:, :: 97] = 0.0  # some exact zeros, as from dead units
    writer = NoiseDumpWriter(path, columns=np.arange(columns), layers=[("layer", 0, columns)],
                             attrs={"run_id": "bench", "config": {}})
    writer.add_checkpoint(ITERATION, noise, np.zeros(columns, dtype=np.float32), {"lr": 0.1})
    writer.close()


def run_variant(variant: str, path: str, budget_mb: float, trace: bool) -> dict:
    from sgnoise import tail
    from sgnoise.noise.dump import NoiseDump

    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    if variant == "in_memory":
        with NoiseDump(path) as dump:
            alpha = tail.estimate_alpha(dump.noise_array(ITERATION), "mohammadi")
    else:
        table = tail.alpha_table(path, methods=["mohammadi"], views=["pooled"], ci={"method": "none"},
                                 normality={"test": "none"}, memory_budget_mb=budget_mb)
        alpha = float(table["alpha"].iloc[0])
    seconds = time.perf_counter() - start
    traced_peak = tracemalloc.get_traced_memory()[1] if trace else None
    return {"alpha": alpha, "seconds": seconds, "traced_peak_bytes": traced_peak,
            "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def in_subprocess(variant: str, path: Path, budget_mb: float, trace: bool) -> dict:
    command = [sys.executable, __file__, "--child", variant, "--path", str(path), "--budget-mb", str(budget_mb)]
    if trace:
        command.append("--trace")
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--columns", type=int, default=100_000)
    parser.add_argument("--budget-mb", type=float, default=256.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=["in_memory", "streamed"])
    parser.add_argument("--path")
    parser.add_argument("--trace", action="store_true")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_variant(args.child, args.path, args.budget_mb, args.trace)))
        return

    entries = args.rows * args.columns
    workdir = Path(tempfile.mkdtemp(prefix="sgnoise_bench_", dir="/tmp"))
    try:
        path = workdir / "noise.h5"
        make_dump(path, args.rows, args.columns)
        with open(path, "rb") as handle:  # warm the page cache so both variants read from memory
            while handle.read(1 << 26):
                pass
        results = {}
        for variant in ("in_memory", "streamed"):
            timed = [in_subprocess(variant, path, args.budget_mb, trace=False) for _ in range(args.repeats)]
            traced = in_subprocess(variant, path, args.budget_mb, trace=True)
            seconds = statistics.median(run["seconds"] for run in timed)
            results[variant] = {"alpha": timed[0]["alpha"], "seconds_median": seconds,
                                "seconds_all": [run["seconds"] for run in timed],
                                "entries_per_second": entries / seconds,
                                "traced_peak_mb": traced["traced_peak_bytes"] / 2**20,
                                "max_rss_mb": statistics.median(run["max_rss_bytes"] for run in timed) / 2**20}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    base, streamed = results["in_memory"], results["streamed"]
    summary = {
        "benchmark": "bench_tail_streaming",
        "entries": entries, "shape": [args.rows, args.columns], "dtype": "float32", "memory_budget_mb": args.budget_mb,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "variants": results,
        "same_alpha": base["alpha"] == streamed["alpha"],
        "throughput_ratio": streamed["entries_per_second"] / base["entries_per_second"],
        "traced_peak_ratio": streamed["traced_peak_mb"] / base["traced_peak_mb"],
        "rss_ratio": streamed["max_rss_mb"] / base["max_rss_mb"],
    }
    summary["goal_met"] = bool(summary["throughput_ratio"] >= 0.5 and summary["rss_ratio"] < 0.25
                               and summary["traced_peak_ratio"] < 0.25)
    print(f"pooled mohammadi over {entries:.0e} float32 entries, memory budget {args.budget_mb:g} MB")
    print(f"{'variant':<10} {'alpha':>9} {'seconds':>8} {'entries/s':>10} {'traced MB':>10} {'RSS MB':>8}")
    for name, row in results.items():
        print(f"{name:<10} {row['alpha']:>9.5f} {row['seconds_median']:>8.2f} {row['entries_per_second']:>10.3g} "
              f"{row['traced_peak_mb']:>10.0f} {row['max_rss_mb']:>8.0f}")
    print(f"streamed / in-memory: throughput {summary['throughput_ratio']:.2f}x, traced peak {summary['traced_peak_ratio']:.1%}, "
          f"RSS {summary['rss_ratio']:.1%}; same α̂: {summary['same_alpha']}; goal met: {summary['goal_met']}")

    from sgnoise.atomic import write_text_atomic

    write_text_atomic(RESULTS, json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
