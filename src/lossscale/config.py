"""Validate a study configuration against the JSON schema and fill in its defaults.

The schema (``workflow/schemas/config.schema.yaml``) is the one place where keys, types,
allowed values and defaults live. Errors are reported as one short line per problem that
names the key path, the offending value and what is allowed.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from lossscale.provenance import content_hash


class ConfigError(ValueError):
    """A configuration value is not allowed by the schema."""


def load_schema(path: str | Path) -> dict:
    """Read the YAML schema at ``path``."""
    with open(path) as fh:
        return yaml.safe_load(fh)


def _key_path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def _allowed(error: jsonschema.ValidationError) -> str:
    """Describe in words what the schema allows at the place of ``error``."""
    schema = error.schema
    kind = error.validator
    if kind == "enum":
        return "one of " + ", ".join(json.dumps(v) for v in schema["enum"])
    if kind == "type":
        return f"a value of type {schema['type']}"
    if kind == "additionalProperties":
        return "known keys: " + ", ".join(sorted(schema.get("properties", {})))
    bounds = {
        "minimum": ">=",
        "maximum": "<=",
        "exclusiveMinimum": ">",
        "exclusiveMaximum": "<",
    }
    if kind in ("minItems", "maxItems"):
        word = "at least" if kind == "minItems" else "at most"
        return f"a list of {word} {schema[kind]} items"
    if kind in bounds:
        return f"a value {bounds[kind]} {schema[kind]}"
    if kind == "contains":
        return f"a list containing {json.dumps(schema['contains'].get('const'))}"
    if kind == "uniqueItems":
        return "a list without repeated items"
    return f"a value satisfying {kind}={json.dumps(schema.get(kind))}"


def _describe(error: jsonschema.ValidationError) -> str:
    path = list(error.absolute_path)
    if error.validator == "additionalProperties":
        known = set(error.schema.get("properties", {}))
        unknown = sorted(k for k in error.instance if k not in known)
        key = _key_path([*path, unknown[0]]) if unknown else _key_path(path)
        return f"{key}: unknown key; {_allowed(error)}"
    value = json.dumps(error.instance, default=str)
    return f"{_key_path(path)}: value {value} is not allowed; allowed: {_allowed(error)}"


def _is_number_schema(schema: dict) -> bool:
    return schema.get("type") == "number"


def _coerce_numbers(instance: Any, schema: dict) -> Any:
    """Turn strings such as ``"1e5"`` into floats where the schema expects a number.

    YAML 1.1 (PyYAML, hence Snakemake) reads ``1e5`` as a string; it only reads
    ``1.0e+5`` as a number. Users write the former, so accept it explicitly.
    """
    if isinstance(instance, dict):
        props = schema.get("properties", {})
        return {k: _coerce_numbers(v, props.get(k, {})) for k, v in instance.items()}
    if isinstance(instance, list):
        items = schema.get("items", {})
        return [_coerce_numbers(v, items) for v in instance]
    if isinstance(instance, str) and _is_number_schema(schema):
        try:
            return float(instance)
        except ValueError:
            return instance
    return instance


def _fill_defaults(instance: dict, schema: dict) -> None:
    """Insert schema defaults for missing keys, recursively (objects only)."""
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if isinstance(instance.get(key), dict) and sub.get("type") == "object":
            _fill_defaults(instance[key], sub)


def validate_config(config: dict | None, schema: dict) -> dict:
    """Return a validated copy of ``config`` with defaults filled in.

    Raises ConfigError listing every problem, one per line, before anything runs.
    """
    if config is not None and not isinstance(config, dict):
        raise ConfigError(f"config: expected a mapping of keys, got {type(config).__name__}")
    instance = _coerce_numbers(copy.deepcopy(config or {}), schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.path)))
    if errors:
        lines = "\n".join(f"  - {_describe(e)}" for e in errors)
        raise ConfigError(f"invalid configuration ({len(errors)} problem(s)):\n{lines}")
    _fill_defaults(instance, schema)
    return instance


def config_hash(config: dict) -> str:
    """SHA-256 of the canonical JSON form of a validated config (first 16 hex digits)."""
    return content_hash(config)[:16]
