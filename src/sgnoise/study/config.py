"""Adapters from the validated ``alpha:`` config block (schemas/alpha.schema.yaml) to the keyword
arguments of the library's α tables (:func:`sgnoise.tail.alpha_table`); torch-free, plain dicts only.
"""

from __future__ import annotations


def method_options_from_config(method_options: dict) -> dict:
    """Estimator options from the config's ``method_options`` block: null values mean "the default"."""
    return {name: {key: value for key, value in (options or {}).items() if value is not None}
            for name, options in (method_options or {}).items()}


def alpha_table_options(alpha_config: dict) -> dict:
    """Keyword arguments of ``alpha_table`` from the validated ``alpha:`` config block
    (schemas/alpha.schema.yaml); the ``validation`` sub-block is not used here. A null
    ``per_parameter_methods`` keeps the per-coordinate α̂ of the first method only."""
    keys = ("methods", "views", "zeros", "method_options", "ci", "normality", "memory_budget_mb", "per_parameter_source",
            "per_parameter_methods", "k1", "null_columns")
    options = {key: alpha_config[key] for key in keys if key in alpha_config}
    if "method_options" in options:
        options["method_options"] = method_options_from_config(options["method_options"])
    if options.get("per_parameter_methods", "absent") is None:
        options["per_parameter_methods"] = list(options.get("methods", ["mohammadi"]))[:1]
    return options
