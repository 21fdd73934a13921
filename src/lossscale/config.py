"""Validate a study configuration against the JSON schema and fill in its defaults.

The schema (``workflow/schemas/config.schema.yaml``) is the one place where keys, types,
allowed values and defaults live; its optimizer sections and the enums of optimizers,
regularizations and compensations are filled in from the study layer
(:mod:`lossscale.study.optimizers`, :mod:`lossscale.study.variants`), and the task kinds
from its own ``$defs`` sections, where the YAML says ``x-registry``. Errors are reported
as one short line per problem that names the key path, the offending value and what is
allowed.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from lossscale.provenance import content_hash
from lossscale.study import optimizers, variants

#: The study's config schema, in the checkout this package belongs to.
SCHEMA = Path(__file__).resolve().parents[2] / "workflow/schemas/config.schema.yaml"


class ConfigError(ValueError):
    """A configuration value is not allowed by the schema."""


def load_schema(path: str | Path = SCHEMA) -> dict:
    """Read the YAML schema at ``path`` and fill in its ``x-registry`` parts."""
    with open(path) as fh:
        schema = yaml.safe_load(fh)
    return _fill_registry(schema, task_kinds(schema))


def task_kinds(schema: dict) -> list[str]:
    """The task kinds: the schema's ``$defs`` sections whose ``kind`` is their own name."""
    defs = schema.get("$defs", {})
    return [k for k, d in defs.items() if d.get("properties", {}).get("kind", {}).get("const") == k]


def _registry_part(name: str, kinds: list[str]) -> dict:
    """What an ``x-registry: <name>`` marker stands for."""
    if name == "task-kinds":
        return {
            "properties": {"kind": {"enum": kinds}},
            "allOf": [
                {
                    "if": {"properties": {"kind": {"const": k}}, "required": ["kind"]},
                    "then": {"$ref": f"#/$defs/{k}"},
                }
                for k in kinds
            ],
        }
    if name == "optimizer-sections":
        return {"properties": {o.name: o.schema() for o in optimizers.OPTIMIZERS.values()}}
    if name == "optimizers":
        return {"enum": list(optimizers.OPTIMIZERS)}
    if name == "eps-optimizers":
        return {"enum": list(optimizers.eps_optimizers())}
    if name == "regularizations":
        return {"enum": list(variants.REGULARIZATIONS)}
    if name == "compensations":
        return {"enum": list(variants.COMPENSATIONS)}
    raise ValueError(f"schema: x-registry value {name!r} is not allowed")


def _fill_registry(node: Any, kinds: list[str]) -> Any:
    """``node`` with every mapping holding ``x-registry`` extended by its part."""
    if isinstance(node, list):
        return [_fill_registry(v, kinds) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _fill_registry(v, kinds) for k, v in node.items() if k != "x-registry"}
    if "x-registry" in node:
        out.update(_registry_part(node["x-registry"], kinds))
    return out


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
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        return " or ".join(_TYPE_WORDS.get(t, f"a value of type {t}") for t in types)
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
    if kind == "pattern":
        return f"a name matching {schema['pattern']} (lower-case letters, digits, underscores)"
    if kind == "uniqueItems":
        return "a list without repeated items"
    return f"a value satisfying {kind}={json.dumps(schema.get(kind))}"


#: How ``_allowed`` names a JSON type (numbers are finite: see ``_VALIDATOR``).
_TYPE_WORDS = {
    "number": "a finite number",
    "integer": "a whole number (finite)",
    "null": "null",
    "string": "a string",
    "boolean": "true or false",
}


def _finite(checker: Any, instance: Any, base: str) -> bool:
    kinds = jsonschema.Draft202012Validator.TYPE_CHECKER
    if not kinds.is_type(instance, base):
        return False
    return isinstance(instance, int) or math.isfinite(instance)  # ints: any size


#: The schema's validator, with "number" and "integer" meaning finite values only: NaN
#: and infinity satisfy every bound (each comparison with NaN is false), so they would
#: pass ``exclusiveMinimum: 0`` unnoticed.
_VALIDATOR = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine_many(
        {
            "number": lambda c, x: _finite(c, x, "number"),
            "integer": lambda c, x: _finite(c, x, "integer"),
        }
    ),
)


def _describe(error: jsonschema.ValidationError) -> str:
    path = list(error.absolute_path)
    if error.validator == "additionalProperties":
        known = set(error.schema.get("properties", {}))
        unknown = sorted(k for k in error.instance if k not in known)
        key = _key_path([*path, unknown[0]]) if unknown else _key_path(path)
        return f"{key}: unknown key; {_allowed(error)}"
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        keys = ", ".join(_key_path([*path, k]) for k in missing)
        return f"{keys}: missing; required here"
    if "propertyNames" in error.relative_schema_path:  # a key of a mapping is a name
        name = json.dumps(error.instance)
        key = _key_path([*path, error.instance])
        return f"{key}: name {name} is not allowed; allowed: {_allowed(error)}"
    value = json.dumps(error.instance, default=str)
    return f"{_key_path(path)}: value {value} is not allowed; allowed: {_allowed(error)}"


def _resolve(schema: dict, instance: Any, root: dict) -> dict:
    """``schema`` with its ``$ref`` followed and the ``then`` of every ``allOf`` branch
    whose ``if`` matches ``instance`` merged in (how a task's kind picks its settings)."""
    if "$ref" in schema:
        target = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    for branch in schema.get("allOf", []):
        condition = branch.get("if")
        if condition and jsonschema.Draft202012Validator(condition).is_valid(instance):
            schema = {**schema, **_resolve(branch["then"], instance, root)}
    return schema


def _child(schema: dict, key: str) -> dict:
    """The schema of ``key`` inside an object with ``schema``."""
    extra = schema.get("additionalProperties")
    return schema.get("properties", {}).get(key, extra if isinstance(extra, dict) else {})


#: ``2^k`` (an exact power of two), accepted wherever a number is.
_POWER_OF_TWO = re.compile(r"^\s*2\s*\^\s*([+-]?\d+)\s*$")


def _as_number(text: str) -> float | str:
    """``"1e5"`` or ``"2^-10"`` as a float; any other string (or a power of two beyond
    the float range) unchanged, for the validator to report."""
    match = _POWER_OF_TWO.match(text)
    if match:
        try:
            return 2.0 ** int(match.group(1))
        except OverflowError:
            return text
    try:
        return float(text)
    except ValueError:
        return text


def _types(schema: dict) -> set[str]:
    kind = schema.get("type", [])
    return set(kind if isinstance(kind, list) else [kind])


def _coerce_numbers(instance: Any, schema: dict, root: dict) -> Any:
    """Turn strings such as ``"1e5"`` or ``"2^10"`` into floats where the schema expects a
    number, and whole numbers into ints where it expects a count.

    YAML 1.1 (PyYAML, hence Snakemake) reads ``1e5`` as a string; it only reads
    ``1.0e+5`` as a number. Users write the former, so accept it explicitly, and powers
    of two as ``2^k`` (exact, and readable in an alpha grid); ``snakemake --config``
    passes the numbers inside a mapping as strings.
    """
    schema = _resolve(schema, instance, root)
    if isinstance(instance, dict):
        return {k: _coerce_numbers(v, _child(schema, k), root) for k, v in instance.items()}
    if isinstance(instance, list):
        items = schema.get("items", {})
        return [_coerce_numbers(v, items, root) for v in instance]
    types = _types(schema)
    if isinstance(instance, str) and types & {"number", "integer"}:
        instance = _as_number(instance)
    whole = isinstance(instance, float) and math.isfinite(instance) and instance.is_integer()
    if whole and "integer" in types and "number" not in types:
        return int(instance)  # 1e4 or 1.0e+4 where a count is meant (range() needs an int)
    return instance


def _fill_defaults(instance: dict, schema: dict, root: dict) -> None:
    """Insert schema defaults for missing keys, recursively (objects only), also inside
    the entries of a mapping whose values share one schema (tasks, blocks)."""
    schema = _resolve(schema, instance, root)
    required = set(schema.get("required", []))
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub and key not in required:
            instance[key] = copy.deepcopy(sub["default"])
    for key, value in instance.items():
        if isinstance(value, dict):
            _fill_defaults(value, _child(schema, key), root)


def validate_config(config: dict | None, schema: dict) -> dict:
    """Return a validated copy of ``config`` with defaults filled in.

    Raises ConfigError listing every problem, one per line, before anything runs.
    """
    if config is not None and not isinstance(config, dict):
        raise ConfigError(f"config: expected a mapping of keys, got {type(config).__name__}")
    instance = copy.deepcopy(config or {})
    _fill_defaults(instance, schema, schema)
    instance = _coerce_numbers(instance, schema, schema)
    validator = _VALIDATOR(schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.path)))
    # (one error per missing required key, each describing all of them: said once)
    problems = list(dict.fromkeys(_describe(e) for e in errors)) or _unknown_names(instance, schema)
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(f"invalid configuration ({len(problems)} problem(s)):\n{lines}")
    _inherit_block_settings(instance)
    return instance


def leaves(instance: Any, schema: dict, root: dict | None = None, path: tuple = ()):
    """Every value of ``instance`` that is not a mapping or a list, with its key path and
    its (resolved) schema: the config's keys as the schema describes them."""
    root = schema if root is None else root
    schema = _resolve(schema, instance, root)
    if isinstance(instance, dict):
        for key, value in instance.items():
            yield from leaves(value, _child(schema, key), root, (*path, key))
    elif isinstance(instance, list):
        for i, value in enumerate(instance):
            yield from leaves(value, schema.get("items", {}), root, (*path, i))
    else:
        yield path, instance, schema


def _unknown_names(instance: dict, schema: dict) -> list[str]:
    """Problems with names that must be keys of another section (``x-names: tasks``)."""
    problems = []
    for path, value, sub in leaves(instance, schema):
        section = sub.get("x-names")
        if section and value is not None and value not in instance.get(section, {}):
            known = ", ".join(instance.get(section, {}))
            null = " or null" if "null" in _types(sub) else ""
            problems.append(
                f"{_key_path(path)}: value {json.dumps(value)} is not allowed; allowed: "
                f"{known} (the keys of {section}){null}"
            )
    return problems


#: Block keys whose null means the value of the same key under ``train``.
INHERITED = ("seeds", "steps")


def _inherit_block_settings(config: dict) -> None:
    """Give every block without its own ``seeds`` or ``steps`` the ``train`` value."""
    train = config.get("train", {})
    for block in train.get("blocks", {}).values():
        for key in INHERITED:
            if block.get(key) is None:
                block[key] = train[key]


#: Config keys that say where and how jobs run, or how large a plan may be, not what the
#: study computes: left out of the hash.
PLACEMENT_KEYS = ("cluster", "cells_per_job", "limits")


def config_hash(config: dict) -> str:
    """SHA-256 of the canonical JSON form of a validated config (first 16 hex digits),
    without the keys that only place or bound jobs (``PLACEMENT_KEYS``), so that running
    on a cluster does not change the study's identity or rerun its jobs."""
    study = {key: value for key, value in config.items() if key not in PLACEMENT_KEYS}
    return content_hash(study)[:16]


def base_hyperparameters(config: dict, task: str, optimizer: str) -> dict:
    """The optimizer's hyperparameters at alpha = 1 on ``task``: ``optimizers.<name>``
    with the task's own learning rate (``tasks.<task>.lr.<name>``) where it sets one."""
    hyper = dict(config["optimizers"][optimizer])
    own = config["tasks"][task].get("lr", {})
    if optimizer in own:
        hyper["lr"] = own[optimizer]
    return hyper
