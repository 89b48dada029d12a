"""DAG scale: time and job count of `snakemake -n --configfile configs/paper.yaml` (goal < 60 s here).

Run: python benchmarks/bench_dag.py  (writes benchmarks/results/bench_dag.json). The baseline in the
same run is the dry run of the default study, so the ratio says how DAG time grows with job count.
"""

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from workflow import planned_rules  # noqa: E402


def dry_run(configfile):
    with tempfile.TemporaryDirectory() as workdir:
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", workdir,
                                 "--configfile", str(configfile), "-n"], capture_output=True, text=True, check=True)
        elapsed = time.perf_counter() - start
    rules = planned_rules(result.stdout)
    return elapsed, sum(rules.values()), rules


def main():
    default_s, default_jobs, _ = dry_run(REPO / "config.yaml")
    paper_s, paper_jobs, rules = dry_run(REPO / "configs/paper.yaml")
    results = dict(default_dry_run_s=default_s, default_jobs=default_jobs, paper_dry_run_s=paper_s, paper_jobs=paper_jobs,
                   paper_train_jobs=rules["train"], seconds_per_1000_jobs=1000 * paper_s / paper_jobs,
                   paper_over_default_time=paper_s / default_s)
    out = REPO / "benchmarks/results/bench_dag.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    for key, value in results.items():
        print(f"{key:>26}: {value:.4g}" if isinstance(value, float) else f"{key:>26}: {value}")


if __name__ == "__main__":
    main()
