"""Command-line config overrides read as the schema's types.

Snakemake reads ``--config key=value``: a top-level scalar becomes an int, float or bool where it
parses as one, but a nested value (``noise={"max_coords": 100}``) is parsed with YAML's base loader,
so every scalar inside it arrives as a string ("100"). :func:`coerce_overrides` walks the
overrides alongside the JSON schema the config is validated against and reads each string as the
type the schema declares for its key (integer, number, boolean, null, list, object), leaving strings
where the schema allows a string. A value that cannot be read as any allowed type raises
:class:`OverrideError`, naming the key, the value and the types allowed.
"""

from __future__ import annotations

import copy

import yaml

SCALAR_TYPES = ("integer", "number", "boolean", "null", "string")


class OverrideError(ValueError):
    """A --config value that cannot be read as the type its key's schema declares."""


def _resolve(schema: dict, root: dict) -> dict:
    while "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"unsupported schema reference {ref!r}")
        target = root
        for part in ref[2:].split("/"):
            target = target[part]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _alternatives(schema: dict, root: dict) -> list[dict]:
    """The schema itself, or each of its oneOf/anyOf alternatives (resolved, flattened)."""
    schema = _resolve(schema, root)
    options = schema.get("oneOf") or schema.get("anyOf")
    if not options:
        return [schema]
    base = {k: v for k, v in schema.items() if k not in ("oneOf", "anyOf")}
    out = []
    for option in options:
        out += _alternatives({**base, **option}, root)
    return out


def _types(schema: dict) -> list[str]:
    declared = schema.get("type")
    if declared is None:
        if "enum" in schema:
            return sorted({_type_of(v) for v in schema["enum"]})
        if "const" in schema:
            return [_type_of(schema["const"])]
        if "properties" in schema:
            return ["object"]
        if "items" in schema:
            return ["array"]
        return []  # anything goes
    return [declared] if isinstance(declared, str) else list(declared)


# JSON-schema type names of Python values, bool before int (a bool is an int)
_JSON_TYPES = ((type(None), "null"), (bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
               (list, "array"), (dict, "object"))


def _type_of(value) -> str:
    return next((name for kind, name in _JSON_TYPES if isinstance(value, kind)), type(value).__name__)


def _matches(value, types) -> bool:
    kind = _type_of(value)
    return kind in types or (kind == "integer" and "number" in types)


def _read(text: str):
    """A string as YAML 1.2-ish scalars: null/~ → None, true/false → bool, numbers, lists, mappings."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


class _NoMatch(Exception):
    pass


def _coerce(value, schema, root, path):
    alternatives = _alternatives(schema, root)
    failures = []
    for option in alternatives:
        try:
            return _coerce_one(value, option, root, path)
        except _NoMatch as error:
            failures.append(str(error))
        except OverrideError as error:
            failures.append(str(error))
    if len(alternatives) == 1:
        raise OverrideError(failures[0])
    allowed = sorted({t for option in alternatives for t in _types(option)} or {"any"})
    raise OverrideError(f"config {path}: --config value {value!r} cannot be read as {' or '.join(allowed)}")


def _coerce_one(value, schema, root, path):
    types = _types(schema)
    if isinstance(value, str) and types and "string" not in types:
        read = _read(value)
        if not _matches(read, types):
            raise _NoMatch(f"config {path}: --config value {value!r} cannot be read as {' or '.join(types)}")
        value = read
    elif isinstance(value, str) and "enum" in schema and value not in schema["enum"]:
        read = _read(value)
        if read in schema["enum"]:
            value = read
    if isinstance(value, float) and value.is_integer() and types == ["integer"]:
        value = int(value)
    if types and not _matches(value, types):
        raise _NoMatch(f"config {path}: --config value {value!r} is not {' or '.join(types)}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", {})
        return {key: _coerce(item, properties.get(key, extra if isinstance(extra, dict) else {}), root, f"{path}.{key}")
                for key, item in value.items()}
    if isinstance(value, list):
        items = schema.get("items", {})
        return [_coerce(item, items, root, f"{path}[{index}]") for index, item in enumerate(value)]
    return value


def coerce_overrides(config: dict, overrides: dict, schemas: dict) -> dict:
    """Read the values of ``overrides`` (snakemake's --config dict) that sit in ``config`` as the types
    of ``schemas``: ``{None: schema of the whole config, "alpha": schema of config["alpha"], ...}``
    (a section's own schema wins over the whole-config one). Returns a new config; raises
    :class:`OverrideError` naming the key when a value cannot be read as its type."""
    config = copy.deepcopy(config)

    def walk(override, current, schema, root, path):
        if isinstance(override, dict) and isinstance(current, dict):
            schema = _resolve(schema, root)
            properties = schema.get("properties", {})
            for key, item in override.items():
                if key not in current:
                    continue
                sub_path = f"{path}.{key}" if path else key
                if not path and key in schemas:
                    current[key] = walk(item, current[key], schemas[key], schemas[key], sub_path)
                else:
                    current[key] = walk(item, current[key], properties.get(key, {}), root, sub_path)
            return current
        # an override replaced this value (a scalar, a list, or a dict put where the config had none)
        return _coerce(current, schema, root, path)

    return walk(overrides, config, schemas.get(None, {}), schemas.get(None, {}), "")
