"""Heavy-tailed SGD iterates (Gürbüzbalaban, Şimşekli & Zhu, ICML 2021; docs/iterates.md): the tail index α of
the iterates themselves, measured on many vectorised SGD chains and held against exact theory.

Linear regression, online: the exact α of the chains (the moment-Lyapunov root; quadrature in ``_theory``,
Monte Carlo in ``_montecarlo``), the chains and the study of one dimension (``_linear``); networks: FCNs
trained as one batched model and α̂ of their weight fluctuations per layer (``_network``); the α̂ tables of
both (``_estimates``); the seed of every setting (``_seeds``). The ``iterates:`` config block is checked by
:func:`sgnoise.study.iterates_config.check_iterates_config` (re-exported here).

Importing the package costs numpy only: scipy, pandas, torch and sgnoise.tail are imported where used,
so that the study tables and figures that read its results stay light.
"""

from sgnoise.iterates._seeds import setting_seed
from sgnoise.study.iterates_config import check_iterates_config
from sgnoise.iterates._estimates import (
    batch_means_interval,
    fluctuation_alpha_rows,
    fluctuation_matrix,
    iterate_alpha_rows,
    mad_normalise,
    pooled_shuffled,
    running_mean_fluctuations,
    summarise_measured,
    symmetrised_norms,
)
from sgnoise.iterates._linear import (
    MEASURED_COLUMNS,
    case_steps,
    chain_schedule,
    linear_study,
    run_linear_study,
    simulate_linear_sgd,
    theory_curve,
)
from sgnoise.iterates._montecarlo import (
    moment_lyapunov_mc,
    moment_lyapunov_products,
    sample_norm_logs,
    theory_alpha_mc,
)
from sgnoise.iterates._network import (
    NetworkIterates,
    coordinate_subset,
    network_inputs,
    network_study,
    stacked_fcn_forward,
    stacked_fcn_weights,
    stacked_sgd_step,
    train_fcn_iterates,
)
from sgnoise.iterates._theory import (
    MAX_ALPHA,
    QUADRATURE_NODES,
    NormLogRule,
    TheoryAlpha,
    log_drift,
    log_moment,
    mean_square_error,
    mixing_steps,
    norm_log_rule,
    second_moment_factor,
    step_for_alpha,
    step_for_alpha_two,
    theory_alpha,
)

__all__ = [
    # config and seeds
    "check_iterates_config",
    "setting_seed",
    # exact theory of the linear chains
    "MAX_ALPHA",
    "QUADRATURE_NODES",
    "step_for_alpha_two",
    "second_moment_factor",
    "mean_square_error",
    "NormLogRule",
    "norm_log_rule",
    "log_moment",
    "log_drift",
    "mixing_steps",
    "TheoryAlpha",
    "theory_alpha",
    "step_for_alpha",
    "sample_norm_logs",
    "moment_lyapunov_mc",
    "theory_alpha_mc",
    "moment_lyapunov_products",
    # the linear-regression study
    "simulate_linear_sgd",
    "chain_schedule",
    "case_steps",
    "theory_curve",
    "MEASURED_COLUMNS",
    "linear_study",
    "run_linear_study",
    # α̂ tables
    "symmetrised_norms",
    "iterate_alpha_rows",
    "summarise_measured",
    "running_mean_fluctuations",
    "mad_normalise",
    "fluctuation_matrix",
    "pooled_shuffled",
    "batch_means_interval",
    "fluctuation_alpha_rows",
    # the network study
    "stacked_fcn_weights",
    "stacked_fcn_forward",
    "coordinate_subset",
    "NetworkIterates",
    "stacked_sgd_step",
    "train_fcn_iterates",
    "network_study",
    "network_inputs",
]
