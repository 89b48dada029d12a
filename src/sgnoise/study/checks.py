"""Config checks beyond the JSON schemas (schemas/*.schema.yaml): a schema violation turned into one line that
names the key and what it allows, the schema types of --config overrides, and the checks across keys."""

from __future__ import annotations

from pathlib import Path

SCHEMAS = ((None, "config"), ("alpha", "alpha"), ("sde", "sde"), ("iterates", "iterates"))  # config section, schema


class ConfigError(ValueError):
    """A config value that is wrong: the message names the key and what is expected."""


def expected(schema: dict) -> str:
    """What a JSON-schema fragment allows, in words (``"integer >= 1"``, ``"one of 'cpu', 'cuda'"``)."""
    if "enum" in schema:
        return "one of " + ", ".join(repr(v) for v in schema["enum"])
    if "const" in schema:
        return repr(schema["const"])
    if "oneOf" in schema or "anyOf" in schema:
        return " or ".join(expected(s) for s in schema.get("oneOf", schema.get("anyOf")))
    words = str(schema.get("type", "a value"))
    if schema.get("type") == "array" and "items" in schema:
        words = f"a list of ({expected(schema['items'])})"
    bounds = [f"{op} {schema[key]}" for key, op in (("minimum", ">="), ("exclusiveMinimum", ">"),
                                                     ("maximum", "<="), ("exclusiveMaximum", "<")) if key in schema]
    return words + (" " + " and ".join(bounds) if bounds else "")


def schema_error(error: Exception, section: str | None) -> ConfigError | None:
    """The ConfigError for a failed schema validation of ``config[section]`` (snakemake wraps jsonschema's
    ValidationError in a WorkflowError), or None when ``error`` holds no schema violation."""
    candidates = [*error.args, error.__cause__, error.__context__]
    violation = next((c for c in candidates if hasattr(c, "absolute_path") and hasattr(c, "validator")), None)
    if violation is None:
        return None
    path = section or ""
    for part in violation.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    where = f"config {path}" if path else "config"
    if violation.validator == "additionalProperties":
        allowed = ", ".join(sorted(violation.schema.get("properties", {})))
        return ConfigError(f"{where}: {violation.message}; allowed keys: {allowed}")
    return ConfigError(f"{where}: {violation.message}; expected {expected(violation.schema)}")


def coerce_to_schema_types(config: dict, overrides: dict, schema_dir) -> dict:
    """``config`` with the nested --config ``overrides`` (strings such as "100") read as their keys' schema types."""
    import yaml

    from sgnoise.study.overrides import OverrideError, coerce_overrides

    schemas = {section: yaml.safe_load((Path(schema_dir) / f"{name}.schema.yaml").read_text()) for section, name in SCHEMAS}
    try:
        return coerce_overrides(config, overrides, schemas)
    except OverrideError as error:
        raise ConfigError(str(error)) from None


def check_across_keys(config: dict) -> None:
    """Checks that span config sections: the pooled view's K1 (alpha.k1) must be measured in the noise pass
    (noise.pooled_k1_grid), and figures.method must keep its per-coordinate α̂ (alpha.per_parameter_methods)."""
    alpha, noise = config["alpha"], config["noise"]
    policy, measured = alpha["k1"]["policy"], set(noise["pooled_k1_grid"])
    wanted = {"reference": set(), "fixed": {alpha["k1"]["fixed"]}, "median": set(alpha["k1"]["grid"])}[policy]
    if "pooled" in alpha["views"] and not wanted <= measured:
        raise ConfigError(
            f"config alpha.k1 (policy {policy}) needs K1 {sorted(wanted - measured)}, which noise.pooled_k1_grid "
            f"does not measure ({sorted(measured)}); add them there"
        )
    kept = alpha["per_parameter_methods"] or alpha["methods"][:1]
    if config["figures"]["method"] not in kept:
        raise ConfigError(
            f"config figures.method={config['figures']['method']!r} must be among the methods whose per-coordinate "
            f"α is kept: alpha.per_parameter_methods (null = the first of alpha.methods) = {kept}"
        )
