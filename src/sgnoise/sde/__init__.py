"""Lévy-driven SDEs (docs/science.md §5): symmetric α-stable noise, first exit from a basin by the Euler scheme,
the small-noise theory it is held against, and the workflow's exit-time studies.

Submodules: :mod:`~sgnoise.sde.levy` (SαS random numbers, Lévy motion), :mod:`~sgnoise.sde.simulate`
(potentials, :func:`first_exit_times`, :func:`discrete_exit_times`), :mod:`~sgnoise.sde.theory` (closed forms
and quadrature), :mod:`~sgnoise.sde.studies` (sweeps, tables, one ``run_*`` call per rule of rules/sde.smk).
"""

from sgnoise.sde.levy import (
    as_generator,
    check_alpha,
    levy_motion_increments,
    levy_motion_paths,
    sample_isotropic_sas,
    sample_positive_stable,
    sample_sas,
)
from sgnoise.sde.simulate import (
    NOISE_KINDS,
    Potential,
    discrete_exit_times,
    first_exit_times,
    periodic_well,
    quadratic_well,
    well_potential,
)
from sgnoise.sde.studies import (
    EXIT_STUDIES,
    case_rng,
    discrete_sweep_cases,
    exit_study_cases,
    exit_sweep_cases,
    levy_paths_table,
    run_discrete_study,
    run_exit_study,
    run_levy_paths,
    simulate_discrete_sweep,
    simulate_exit_sweep,
    summarise_exit_times,
)
from sgnoise.sde.theory import (
    ball_exit_rate,
    ball_exit_time_theory,
    levy_exit_constant,
    mean_exit_time_diffusion,
    mean_exit_time_theory,
)

__all__ = [
    # exit times of the Euler scheme, and their potentials
    "first_exit_times",
    "discrete_exit_times",
    "Potential",
    "quadratic_well",
    "periodic_well",
    "well_potential",
    "NOISE_KINDS",
    # SαS random numbers and Lévy motion
    "sample_sas",
    "sample_isotropic_sas",
    "sample_positive_stable",
    "levy_motion_increments",
    "levy_motion_paths",
    "as_generator",
    "check_alpha",
    # theory
    "mean_exit_time_theory",
    "mean_exit_time_diffusion",
    "levy_exit_constant",
    "ball_exit_time_theory",
    "ball_exit_rate",
    # the workflow's studies: cases, sweeps, tables, one call per rule
    "EXIT_STUDIES",
    "exit_study_cases",
    "exit_sweep_cases",
    "discrete_sweep_cases",
    "case_rng",
    "simulate_exit_sweep",
    "simulate_discrete_sweep",
    "summarise_exit_times",
    "levy_paths_table",
    "run_exit_study",
    "run_discrete_study",
    "run_levy_paths",
]
