"""Throughput of the Lévy-SDE exit simulation (issue 4, benchmark).

Path-steps per second of sgnoise.sde.first_exit_times (α = 1.5, quadratic well, dt = 0.01, so
small an ε that almost no path exits within the horizon) against a naive loop that draws one
``scipy.stats.levy_stable.rvs`` value per path per step; goal ≥ 50×. The practical limit is the
random-number generator: also reports sample_sas's throughput (and first_exit_times') as a
fraction of numpy's own ``standard_normal``, and the α = 2 path (normals + bridge uniforms).
All timings in one process, interleaved, median of REPEATS rounds.
Run: python benchmarks/bench_sde.py  (writes benchmarks/results/bench_sde.json)
"""

import json
import sys
import platform
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import timed_interleaved  # noqa: E402

import numpy as np
from scipy import stats

from sgnoise.atomic import write_text_atomic
from sgnoise.sde import first_exit_times, quadratic_well, sample_sas

REPEATS = 5
ALPHA, EPS, DT = 1.5, 1e-3, 0.01
GRADIENT = quadratic_well(1.0).gradient
N_SAMPLES = 2_000_000          # sampler throughput
N_PATHS, N_STEPS = 4000, 500    # first_exit_times: 2·10^6 path-steps
NAIVE_PATHS, NAIVE_STEPS = 20, 50  # naive loop: 1 000 scipy calls


def naive_exit_loop(rng):
    """The baseline: the same Euler scheme, one scipy levy_stable draw per path per step."""
    scale = EPS * DT ** (1.0 / ALPHA)
    path_steps = 0
    for _ in range(NAIVE_PATHS):
        x = 0.0
        for _ in range(NAIVE_STEPS):
            x = x - DT * x + scale * stats.levy_stable.rvs(ALPHA, 0.0, random_state=rng)
            path_steps += 1
            if not -1.0 < x < 1.0:
                break
    return path_steps


def path_steps_of(times):
    """Steps actually simulated: each path until its exit or the horizon."""
    return int(np.sum(np.round(np.minimum(times, N_STEPS * DT) / DT)))


def main():
    rng = np.random.default_rng(0)
    results = {}

    def ours(alpha=ALPHA):
        return first_exit_times(alpha, EPS, grad_potential=GRADIENT, lower=-1.0, upper=1.0, dt=DT,
                                n_paths=N_PATHS, max_time=N_STEPS * DT, rng=rng)

    def naive():
        results["naive_path_steps"] = naive_exit_loop(rng)

    # warm-up
    ours(), ours(2.0), naive(), sample_sas(ALPHA, 1000, rng=rng), rng.standard_normal(1000)
    steps_ours, steps_ours_2 = path_steps_of(ours()), path_steps_of(ours(2.0))
    t_sas, t_normal, t_ours, t_ours_2, t_naive = timed_interleaved(REPEATS, 
        lambda: sample_sas(ALPHA, N_SAMPLES, rng=rng),
        lambda: rng.standard_normal(N_SAMPLES),
        ours,
        lambda: ours(2.0),
        naive,
    )
    rate = dict(
        sample_sas=N_SAMPLES / t_sas,
        numpy_standard_normal=N_SAMPLES / t_normal,
        first_exit_times=steps_ours / t_ours,
        first_exit_times_alpha2=steps_ours_2 / t_ours_2,
        naive_scipy_loop=results["naive_path_steps"] / t_naive,
    )
    report = dict(
        setup=dict(alpha=ALPHA, eps=EPS, dt=DT, potential="quadratic k=1", basin=[-1.0, 1.0],
                   first_exit_paths=N_PATHS, first_exit_steps=N_STEPS, naive_paths=NAIVE_PATHS,
                   naive_steps=NAIVE_STEPS, sampler_draws=N_SAMPLES, repeats=REPEATS,
                   machine=platform.processor() or platform.machine(), numpy=np.__version__),
        per_second=rate,
        speedup_over_naive_scipy_loop=rate["first_exit_times"] / rate["naive_scipy_loop"],
        sample_sas_over_standard_normal=rate["sample_sas"] / rate["numpy_standard_normal"],
        first_exit_times_over_standard_normal=rate["first_exit_times"] / rate["numpy_standard_normal"],
        goal_speedup=50.0,
    )
    report["goal_met"] = report["speedup_over_naive_scipy_loop"] >= report["goal_speedup"]

    print(f"{'what':<44}{'per second':>14}")
    print(f"{'naive loop, scipy levy_stable.rvs per step':<44}{rate['naive_scipy_loop']:>14.3g}  path-steps")
    print(f"{'first_exit_times, alpha = 1.5':<44}{rate['first_exit_times']:>14.3g}  path-steps")
    print(f"{'first_exit_times, alpha = 2 (bridge)':<44}{rate['first_exit_times_alpha2']:>14.3g}  path-steps")
    print(f"{'sample_sas, alpha = 1.5':<44}{rate['sample_sas']:>14.3g}  draws")
    print(f"{'numpy standard_normal':<44}{rate['numpy_standard_normal']:>14.3g}  draws")
    print(f"speed-up over the naive loop: {report['speedup_over_naive_scipy_loop']:.0f}x (goal >= 50x)")
    print(f"sample_sas / standard_normal: {report['sample_sas_over_standard_normal']:.2f}; "
          f"first_exit_times / standard_normal: {report['first_exit_times_over_standard_normal']:.2f}")
    out = Path(__file__).parent / "results" / "bench_sde.json"
    write_text_atomic(out, json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
