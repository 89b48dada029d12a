"""The SGD-like discrete recursion of Nguyen et al. (NeurIPS 2019) against exact discrete laws and the
continuous theory, and the workflow's SDE sweeps, tables, figures and one call per rule (issue 4)."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sgnoise.sde import (
    ball_exit_time_theory,
    case_rng,
    discrete_exit_times,
    discrete_sweep_cases,
    exit_study_cases,
    exit_sweep_cases,
    first_exit_times,
    levy_paths_table,
    mean_exit_time_theory,
    simulate_discrete_sweep,
    simulate_exit_sweep,
    summarise_exit_times,
)

# --------------------------------------------------------------------------- discrete SGD-like process


@pytest.mark.parametrize(
    "alpha, dim, noise, radius, escape_probability",
    [
        # Isotropic Cauchy in the plane: P(|ζ| ≥ R) = 1/√(1 + R²).
        (1.0, 2, "isotropic", 3.0, 1 / math.sqrt(10.0)),
        # α = 2: |ζ|²/2 ~ χ²_d for both noise kinds.
        (2.0, 3, "isotropic", 3.0, stats.chi2.sf(4.5, 3)),
        (2.0, 3, "coordinatewise", 3.0, stats.chi2.sf(4.5, 3)),
        # 1-D: P(|S| ≥ R) = 2·sf(R) of scipy's SαS.
        (1.5, 1, "coordinatewise", 5.0, 2 * stats.levy_stable.sf(5.0, 1.5, 0.0)),
    ],
)
def test_discrete_exit_with_unit_step_is_geometric(alpha, dim, noise, radius, escape_probability):
    """η·k = 1 makes W_{k+1} = ε ζ_k iid, so the exit iteration is geometric: E τ = η / P(|εζ| ≥ r)."""
    times = discrete_exit_times(alpha, 1.0, 1.0, grad_f=lambda w: w, dim=dim, radius=radius, noise=noise,
                                n_paths=20_000, rng=np.random.default_rng(13))
    assert times.mean() == pytest.approx(1 / escape_probability, rel=0.04)
    assert stats.ks_2samp(times, stats.geom(escape_probability).rvs(20_000, random_state=1)).pvalue > 0.01


def test_discrete_exit_small_step_approaches_continuous_theory():
    """Small η and ε: the discrete exit time of f = |w|²/2 from the unit ball is near 1/(ε^α ν(|y| ≥ 1))."""
    for noise in ("isotropic", "coordinatewise"):
        theory = ball_exit_time_theory(1.2, 0.05, 1.0, 2, noise)
        times = discrete_exit_times(1.2, 0.05, 0.01, grad_f=lambda w: w, dim=2, noise=noise, n_paths=1000,
                                    rng=np.random.default_rng(17))
        assert abs(times.mean() / theory - 1) < 0.1


def test_discrete_one_dimensional_coordinatewise_is_the_euler_scheme():
    euler = first_exit_times(1.5, 0.2, grad_potential=lambda x: x, lower=-1.0, upper=1.0, dt=0.01,
                             n_paths=300, rng=21)
    discrete = discrete_exit_times(1.5, 0.2, 0.01, grad_f=lambda w: w, dim=1, noise="coordinatewise",
                                   n_paths=300, rng=21)
    np.testing.assert_allclose(discrete, euler)


def test_discrete_exit_times_rejects_bad_input():
    with pytest.raises(ValueError, match="noise"):
        discrete_exit_times(1.5, 0.1, 0.01, grad_f=lambda w: w, dim=2, noise="diagonal")
    with pytest.raises(ValueError, match="dim"):
        discrete_exit_times(1.5, 0.1, 0.01, grad_f=lambda w: w, dim=0)
    with pytest.raises(ValueError, match="step_size"):
        discrete_exit_times(1.5, 0.1, 0.0, grad_f=lambda w: w, dim=2)
    with pytest.raises(ValueError, match="grad_f"):
        discrete_exit_times(1.5, 0.1, 0.01, grad_f=lambda w: w[:, :1], dim=2)


# --------------------------------------------------------------------------- sweeps and tables


def test_summarise_exit_times():
    summary = summarise_exit_times([1.0, 2.0, 3.0])
    assert summary["mean_exit_time"] == 2.0 and summary["sem"] == pytest.approx(1 / math.sqrt(3))
    censored = summarise_exit_times([1.0, np.inf])
    assert censored["n_censored"] == 1 and math.isnan(censored["mean_exit_time"])


def test_case_rng_depends_on_values_not_order():
    a = case_rng(0, "eps", alpha=1.5, eps=0.1).random()
    assert a == case_rng(0, "eps", eps=0.1, alpha=1.5).random()
    assert a != case_rng(1, "eps", alpha=1.5, eps=0.1).random()
    assert a != case_rng(0, "width", alpha=1.5, eps=0.1).random()


def test_simulate_exit_sweep_table_and_skipping():
    cases = exit_sweep_cases(alphas=[1.5, 2.0], eps=[0.3, 0.05], well="quadratic", half_width=1.0, curvature=1.0)
    summary, times = simulate_exit_sweep(cases, n_paths=40, dt=0.01, max_time=1e4, max_predicted_steps=3000,
                                         seed=0, sweep="eps", keep_times=True)
    assert len(summary) == 4
    by_case = summary.set_index(["alpha", "eps"])
    # (2.0, 0.05) predicts e^{200}: theory only, never simulated; the ε = 0.3 cases are cheap and run.
    assert not by_case.loc[(2.0, 0.05), "simulated"] and by_case.loc[(2.0, 0.05), "n_paths"] == 0
    assert by_case.loc[(1.5, 0.3), "simulated"] and by_case.loc[(1.5, 0.3), "n_paths"] == 40
    assert by_case.loc[(2.0, 0.3), "theory_kind"] == "diffusion_exact"
    assert by_case.loc[(1.5, 0.3), "theory"] == pytest.approx(mean_exit_time_theory(1.5, 0.3, -1, 1))
    assert by_case.loc[(1.5, 0.3), "barrier_height"] == pytest.approx(0.5)
    assert len(times) == 40 * int(summary["simulated"].sum())
    assert list(times.columns) == ["alpha", "eps", "well", "half_width", "curvature", "barrier_height", "path",
                                   "exit_time", "theory", "theory_kind"]
    assert (times["curvature"] == 1.0).all() and (times["half_width"] == 1.0).all()
    again = simulate_exit_sweep(list(reversed(cases)), n_paths=40, dt=0.01, max_time=1e4,
                                max_predicted_steps=3000, seed=0, sweep="eps")
    pd.testing.assert_frame_equal(
        summary.sort_values(["alpha", "eps"]).reset_index(drop=True),
        again.sort_values(["alpha", "eps"]).reset_index(drop=True),
    )


def test_periodic_sweep_reports_depth_and_curvature():
    cases = exit_sweep_cases(alphas=[1.5], eps=0.3, well="periodic", half_width=[0.5, 1.0], barrier_height=0.2)
    summary = simulate_exit_sweep(cases, n_paths=20, dt=0.01, max_time=1e3, max_predicted_steps=1e5, seed=1,
                                  sweep="width")
    np.testing.assert_allclose(summary["barrier_height"], 0.2)
    np.testing.assert_allclose(summary["curvature"], 0.2 * np.pi**2 / (2 * np.array([0.25, 1.0])))
    assert summary["mean_exit_time"].notna().all()


def test_discrete_sweep_and_levy_paths_tables():
    cases = discrete_sweep_cases(alpha=1.5, eps=0.5, dims=[1, 3], step_sizes=[0.1, 0.5],
                                 noises=["isotropic", "coordinatewise"])
    table = simulate_discrete_sweep(cases, n_paths=30, max_time=1e3, max_predicted_steps=1e4, seed=0)
    assert len(table) == 8 and table["simulated"].all() and table["mean_exit_time"].notna().all()
    paths = levy_paths_table([1.0, 2.0], n_paths=2, n_steps=10, horizon=1.0, seed=0)
    assert list(paths.columns) == ["alpha", "path", "t", "x"] and len(paths) == 2 * 2 * 11
    assert (paths.loc[paths["t"] == 0, "x"] == 0).all()
    pd.testing.assert_frame_equal(paths, levy_paths_table([1.0, 2.0], n_paths=2, n_steps=10, horizon=1.0, seed=0))


# --------------------------------------------------------------------------- figures


@pytest.fixture(scope="module")
def small_tables():
    common = dict(n_paths=30, dt=0.01, max_time=1e3, max_predicted_steps=2000, seed=0)
    tables = {}
    for study, settings in {
        "exit_vs_eps": dict(alphas=[1.5, 2.0], eps=[0.3, 0.5], curvature=1.0, half_width=1.0),
        "exit_vs_width": dict(alphas=[1.5, 2.0], half_widths=[0.5, 1.0], barrier_height=0.1, eps=0.3),
        "exit_vs_depth": dict(alphas=[1.5, 2.0], barrier_heights=[0.05, 0.2], half_width=1.0, eps=0.3),
        "exit_distribution": dict(cases=[dict(alpha=1.5, eps=0.3), dict(alpha=2.0, eps=0.5)], curvature=1.0,
                                  half_width=1.0),
    }.items():
        tables[study] = simulate_exit_sweep(exit_study_cases(study, settings), sweep=study, keep_times=True, **common)
    tables["discrete_exit"] = simulate_discrete_sweep(
        discrete_sweep_cases(alpha=1.5, eps=0.3, dims=[1, 2], step_sizes=[0.1, 1.0], noises=["isotropic"]),
        n_paths=30, max_time=1e3, max_predicted_steps=1e4, seed=0,
    )
    tables["levy_paths"] = levy_paths_table([1.0, 2.0], n_paths=2, n_steps=20, horizon=1.0, seed=0)
    return tables


def test_exit_study_cases_follow_the_config_block():
    cases = exit_study_cases("exit_vs_depth", dict(alphas=[1.5, 2.0], barrier_heights=[0.1, 0.2, 0.4],
                                                   half_width=1.0, eps=0.2))
    assert len(cases) == 6 and {c["well"] for c in cases} == {"periodic"}
    distribution = exit_study_cases("exit_distribution", dict(cases=[dict(alpha=1.2, eps=0.05)], curvature=2.0,
                                                             half_width=1.0))
    assert distribution == [dict(alpha=1.2, eps=0.05, well="quadratic", half_width=1.0, curvature=2.0)]
    by_eps = exit_study_cases("exit_vs_eps", dict(alphas=[1.5], eps=[0.1, 0.2], half_width=1.0, curvature=3.0))
    assert [(c["well"], c["eps"], c["curvature"]) for c in by_eps] == [("quadratic", 0.1, 3.0), ("quadratic", 0.2, 3.0)]
    by_width = exit_study_cases("exit_vs_width", dict(alphas=[1.5], eps=0.1, half_widths=[0.5, 1.0], barrier_height=0.3))
    assert [(c["well"], c["half_width"], c["barrier_height"]) for c in by_width] == [("periodic", 0.5, 0.3),
                                                                                    ("periodic", 1.0, 0.3)]
    with pytest.raises(ValueError, match="study"):
        exit_study_cases("exit_vs_colour", {})


def test_every_sde_figure_draws_its_table(small_tables):
    import matplotlib.figure

    from sgnoise.figures.sde import FIGURE_FUNCTIONS

    assert sorted(FIGURE_FUNCTIONS) == sorted([
        "sde_exit_vs_eps", "sde_exit_vs_width", "sde_exit_vs_depth", "sde_exit_distribution", "sde_levy_paths",
        "sde_discrete_exit",
    ])
    inputs = {
        "sde_exit_vs_eps": small_tables["exit_vs_eps"][0],
        "sde_exit_vs_width": small_tables["exit_vs_width"][0],
        "sde_exit_vs_depth": small_tables["exit_vs_depth"][0],
        "sde_exit_distribution": small_tables["exit_distribution"][1],
        "sde_levy_paths": small_tables["levy_paths"],
        "sde_discrete_exit": small_tables["discrete_exit"],
    }
    panels = {"sde_exit_distribution": 2, "sde_levy_paths": 2}
    for name, table in inputs.items():
        fig = FIGURE_FUNCTIONS[name](table)
        assert isinstance(fig, matplotlib.figure.Figure)
        assert len(fig.axes) == panels.get(name, 1), name
        assert all(ax.has_data() for ax in fig.axes), name
        with pytest.raises(ValueError, match="lacks column"):
            FIGURE_FUNCTIONS[name](table.drop(columns=["alpha"]))
        matplotlib.pyplot.close(fig)


def test_sweep_figure_draws_one_theory_line_per_alpha(small_tables):
    from sgnoise.figures.sde import exit_vs_eps_figure

    summary = small_tables["exit_vs_eps"][0]
    fig = exit_vs_eps_figure(summary)
    dashed = [line for line in fig.axes[0].get_lines() if line.get_linestyle() == "--"]
    assert len(dashed) == summary["alpha"].nunique()
    np.testing.assert_allclose(sorted(np.concatenate([line.get_ydata() for line in dashed])),
                               sorted(summary["theory"]))


def test_public_face_and_one_call_per_rule():
    import sgnoise.sde as sde

    assert len(sde.__all__) == len(set(sde.__all__)) and all(hasattr(sde, name) for name in sde.__all__)
    settings = dict(alphas=[1.5], eps=[0.5], half_width=1.0, curvature=1.0, n_paths=20)
    common = dict(seed=3, dt=0.01, max_time=50.0, max_predicted_steps=10**5)
    summary, times = sde.run_exit_study("exit_vs_eps", settings, common)
    assert times is None
    expected = simulate_exit_sweep(exit_study_cases("exit_vs_eps", settings), n_paths=20, dt=0.01, max_time=50.0,
                                   max_predicted_steps=10**5, seed=3, sweep="exit_vs_eps")
    pd.testing.assert_frame_equal(summary, expected)
    levy = dict(alphas=[1.0], n_paths=2, n_steps=10, horizon=1.0)
    pd.testing.assert_frame_equal(sde.run_levy_paths(levy, 4), levy_paths_table([1.0], n_paths=2, n_steps=10,
                                                                                horizon=1.0, seed=4))
