"""The workflow's SDE studies (rules/sde.smk; config block ``sde:``, schemas/sde.schema.yaml): their cases,
seeded simulations and tidy tables, one ``run_*`` function per simulation rule.
"""

from __future__ import annotations

import itertools
import math
import zlib

import numpy as np
import pandas as pd

from sgnoise.sde.levy import _check_count, _check_positive, levy_motion_paths
from sgnoise.sde.simulate import discrete_exit_times, first_exit_times, well_potential
from sgnoise.sde.theory import ball_exit_time_theory, mean_exit_time_diffusion, mean_exit_time_theory


def summarise_exit_times(times) -> dict:
    """n_paths, n_censored (infinite times), mean, its standard error and median (NaN if any censored)."""
    times = np.asarray(times, dtype=float)
    finite = np.isfinite(times)
    n, n_censored = times.size, int((~finite).sum())
    if n == 0 or n_censored:
        mean = sem = median = math.nan
    else:
        mean = float(times.mean())
        sem = float(times.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
        median = float(np.median(times))
    return dict(n_paths=n, n_censored=n_censored, mean_exit_time=mean, sem=sem, median_exit_time=median)


def case_rng(seed, sweep: str, **values) -> np.random.Generator:
    """A Generator seeded by (seed, sweep name, case values): reproducible, independent of case order."""
    key = sweep + "|" + "|".join(f"{name}={values[name]!r}" for name in sorted(values))
    return np.random.default_rng([int(seed), zlib.crc32(key.encode())])


def exit_sweep_cases(*, alphas, eps, well, half_width, curvature=None, barrier_height=None) -> list[dict]:
    """All (α, ε, width, depth) combinations; scalars or lists for eps, half_width, curvature, barrier_height."""

    def as_list(value):
        return list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value]

    cases = []
    for alpha, e, a, k, h in itertools.product(
        as_list(alphas), as_list(eps), as_list(half_width), as_list(curvature), as_list(barrier_height)
    ):
        case = dict(alpha=float(alpha), eps=float(e), well=well, half_width=float(a))
        if well == "quadratic":
            case["curvature"] = float(k)
        else:
            case["barrier_height"] = float(h)
        cases.append(case)
    return cases


EXIT_STUDIES = ("exit_vs_eps", "exit_vs_width", "exit_vs_depth", "exit_distribution")


def exit_study_cases(study: str, settings: dict) -> list[dict]:
    """The cases of one study of the workflow's ``sde:`` config block (see schemas/sde.schema.yaml).

    exit_vs_eps: quadratic well, α × ε; exit_vs_width: periodic well, α × half-width;
    exit_vs_depth: periodic well, α × barrier height; exit_distribution: quadratic well, listed (α, ε).
    """
    if study == "exit_vs_eps":
        return exit_sweep_cases(alphas=settings["alphas"], eps=settings["eps"], well="quadratic",
                                half_width=settings["half_width"], curvature=settings["curvature"])
    if study == "exit_vs_width":
        return exit_sweep_cases(alphas=settings["alphas"], eps=settings["eps"], well="periodic",
                                half_width=settings["half_widths"], barrier_height=settings["barrier_height"])
    if study == "exit_vs_depth":
        return exit_sweep_cases(alphas=settings["alphas"], eps=settings["eps"], well="periodic",
                                half_width=settings["half_width"], barrier_height=settings["barrier_heights"])
    if study == "exit_distribution":
        return [case for pair in settings["cases"]
                for case in exit_sweep_cases(alphas=[pair["alpha"]], eps=pair["eps"], well="quadratic",
                                             half_width=settings["half_width"], curvature=settings["curvature"])]
    raise ValueError(f"study must be one of {EXIT_STUDIES}, got {study!r}")


def _case_theory(alpha, eps, potential, half_width) -> tuple[float, str]:
    """Imkeller–Pavlyukevich for α < 2, the exact diffusion mean exit time for α = 2."""
    if alpha < 2.0:
        return mean_exit_time_theory(alpha, eps, -half_width, half_width), "imkeller_pavlyukevich"
    exact = mean_exit_time_diffusion(eps, potential=potential.value, lower=-half_width, upper=half_width)
    return exact, "diffusion_exact"


def simulate_exit_sweep(cases, *, n_paths, dt, max_time, max_predicted_steps, seed, sweep, keep_times=False):
    """Simulate :func:`first_exit_times` from (−a, a), x0 = 0, for each case; one summary row per case.

    Each row holds the case, the theory (Imkeller–Pavlyukevich for α < 2, exact quadrature for α = 2)
    and :func:`summarise_exit_times`; cases whose theory predicts more than ``max_predicted_steps``
    steps are not simulated (``simulated`` False, theory only). With ``keep_times`` also returns a
    long table of every path's exit time. Each case has its own :func:`case_rng`.
    """
    rows, times_rows = [], []
    for case in cases:
        a = case["half_width"]
        potential = well_potential(case["well"], curvature=case.get("curvature"), half_width=a,
                                   barrier_height=case.get("barrier_height"))
        if case["well"] == "quadratic":  # depth of the basin edge and curvature at the bottom, for both wells
            curvature, barrier = case["curvature"], case["curvature"] * a**2 / 2.0
        else:
            curvature, barrier = case["barrier_height"] * math.pi**2 / (2.0 * a**2), case["barrier_height"]
        theory, theory_kind = _case_theory(case["alpha"], case["eps"], potential, a)
        simulate = theory / dt <= max_predicted_steps
        if simulate:
            times = first_exit_times(
                case["alpha"], case["eps"], grad_potential=potential.gradient, lower=-a, upper=a,
                dt=dt, n_paths=n_paths, max_time=max_time, rng=case_rng(seed, sweep, **case),
            )
        else:
            times = np.empty(0)
        rows.append({"sweep": sweep, **case, "curvature": curvature, "barrier_height": barrier, "dt": dt,
                     "theory": theory, "theory_kind": theory_kind, "simulated": simulate,
                     **summarise_exit_times(times)})
        if keep_times and simulate:
            times_rows.append(pd.DataFrame(dict(alpha=case["alpha"], eps=case["eps"], well=case["well"],
                                                half_width=a, curvature=curvature, barrier_height=barrier,
                                                path=np.arange(times.size), exit_time=times,
                                                theory=theory, theory_kind=theory_kind)))
    summary = pd.DataFrame(rows)
    if not keep_times:
        return summary
    columns = ["alpha", "eps", "well", "half_width", "curvature", "barrier_height", "path", "exit_time",
               "theory", "theory_kind"]
    times_table = pd.concat(times_rows, ignore_index=True) if times_rows else pd.DataFrame(columns=columns)
    return summary, times_table


def discrete_sweep_cases(*, alpha, eps, dims, step_sizes, noises, radius=1.0, curvature=1.0) -> list[dict]:
    """All (noise kind, dimension, step size) combinations for :func:`simulate_discrete_sweep`."""
    return [
        dict(alpha=float(alpha), eps=float(eps), noise=noise, dim=int(dim), step_size=float(step),
             radius=float(radius), curvature=float(curvature))
        for noise, dim, step in itertools.product(noises, dims, step_sizes)
    ]


def simulate_discrete_sweep(cases, *, n_paths, max_time, max_predicted_steps, seed, sweep="discrete_exit"):
    """:func:`discrete_exit_times` for f(w) = k|w|²/2 per case, with the continuous theory; one row per case.

    Cases whose theory predicts more than ``max_predicted_steps`` iterations are not simulated.
    """
    rows = []
    for case in cases:
        theory = ball_exit_time_theory(case["alpha"], case["eps"], case["radius"], case["dim"], case["noise"])
        simulate = theory / case["step_size"] <= max_predicted_steps
        times = np.empty(0)
        if simulate:
            k = case["curvature"]
            times = discrete_exit_times(
                case["alpha"], case["eps"], case["step_size"], grad_f=lambda w, k=k: k * w, dim=case["dim"],
                radius=case["radius"], noise=case["noise"], n_paths=n_paths, max_time=max_time,
                rng=case_rng(seed, sweep, **case),
            )
        rows.append(dict(sweep=sweep, **case, theory=theory, simulated=simulate, **summarise_exit_times(times)))
    return pd.DataFrame(rows)


def levy_paths_table(alphas, *, n_paths, n_steps, horizon, seed, sweep="levy_paths") -> pd.DataFrame:
    """Sample paths of α-stable Lévy motion on [0, horizon] for each α: long table (alpha, path, t, x)."""
    horizon = _check_positive(horizon, "horizon")
    n_steps = _check_count(n_steps, "n_steps")
    t = np.linspace(0.0, horizon, n_steps + 1)
    frames = []
    for alpha in alphas:
        paths = levy_motion_paths(alpha, n_steps, horizon / n_steps, n_paths=n_paths,
                                  rng=case_rng(seed, sweep, alpha=float(alpha)))
        frames.append(pd.DataFrame(dict(alpha=float(alpha), path=np.repeat(np.arange(paths.shape[0]), t.size),
                                        t=np.tile(t, paths.shape[0]), x=paths.ravel())))
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- one call per simulation rule


def run_exit_study(study: str, settings: dict, common: dict, keep_times: bool = False):
    """One ``sde_simulate_<study>`` rule: :func:`simulate_exit_sweep` of :func:`exit_study_cases`.

    ``settings`` = ``config["sde"][study]``; ``common`` = its ``seed``, ``dt``, ``max_time`` and
    ``max_predicted_steps``. Returns (summary, every path's exit time or None unless ``keep_times``).
    """
    result = simulate_exit_sweep(
        exit_study_cases(study, settings),
        n_paths=settings["n_paths"],
        dt=common["dt"],
        max_time=common["max_time"],
        max_predicted_steps=common["max_predicted_steps"],
        seed=common["seed"],
        sweep=study,
        keep_times=keep_times,
    )
    return result if keep_times else (result, None)


def run_discrete_study(settings: dict, common: dict) -> pd.DataFrame:
    """The ``sde_simulate_discrete_exit`` rule: :func:`simulate_discrete_sweep` of :func:`discrete_sweep_cases`.

    ``settings`` = ``config["sde"]["discrete_exit"]``; ``common`` as for :func:`run_exit_study` (``dt`` unused:
    the step size of the recursion is the time step).
    """
    cases = discrete_sweep_cases(
        alpha=settings["alpha"],
        eps=settings["eps"],
        dims=settings["dims"],
        step_sizes=settings["step_sizes"],
        noises=settings["noises"],
        radius=settings["radius"],
        curvature=settings["curvature"],
    )
    return simulate_discrete_sweep(
        cases,
        n_paths=settings["n_paths"],
        max_time=common["max_time"],
        max_predicted_steps=common["max_predicted_steps"],
        seed=common["seed"],
    )


def run_levy_paths(settings: dict, seed) -> pd.DataFrame:
    """The ``sde_simulate_levy_paths`` rule: :func:`levy_paths_table` for ``config["sde"]["levy_paths"]``."""
    return levy_paths_table(
        settings["alphas"],
        n_paths=settings["n_paths"],
        n_steps=settings["n_steps"],
        horizon=settings["horizon"],
        seed=seed,
    )
