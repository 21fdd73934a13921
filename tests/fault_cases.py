"""Hostile config values, generated from the schema: every numeric key gets non-finite,
negative, zero, huge and wrongly typed values, every name-valued key an unknown name,
and every closed mapping an unknown key.

The keys come from walking a config that holds every task kind and every optimizer with
the schema (``lossscale.config.leaves``), one case per key of the schema: the tasks of
one kind, the blocks and the items of one list share their keys."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

from lossscale.config import leaves, load_schema, task_kinds, validate_config
from lossscale.study import optimizers

SCHEMA = load_schema()

#: The injected values: (label, value) for numeric keys.
HUGE_INT = 10**12
NUMERIC_VALUES = (
    ("nan", math.nan),
    ("inf", math.inf),
    ("-inf", -math.inf),
    ("negative", -1),
    ("zero", 0),
    ("huge", None),  # 10**12 for a count, 1e300 for a real number
    ("string", "three"),
    ("list", [1]),
    ("boolean", True),
)
UNKNOWN_NAME = "no_such_name"


def base_config() -> dict:
    """A valid raw config with one task of every kind and one block training all of
    them with every optimizer (so that every key of the schema has a value)."""
    kinds = task_kinds(SCHEMA)
    raw = {
        "tasks": {kind: {"kind": kind, "lr": {"sgd": 0.1}} for kind in kinds},
        "train": {"blocks": {"b": {"tasks": kinds, "optimizers": list(optimizers.OPTIMIZERS)}}},
        "phase": {"layers": {"task": "diabetes"}},
    }
    return validate_config(raw, SCHEMA)


BASE = base_config()


def _types(schema: dict) -> set[str]:
    kind = schema.get("type", [])
    return set(kind if isinstance(kind, list) else [kind])


def schema_key(path: tuple) -> str:
    """The key's place in the schema: task names by their kind, block names as ``*``,
    list items as ``[]``."""
    parts = []
    for i, part in enumerate(path):
        if isinstance(part, int):
            parts.append("[]")
        elif path[:i] == ("train", "blocks"):
            parts.append("*")
        else:
            parts.append(str(part))
    return ".".join(parts).replace(".[]", "[]")


def key_path(path: tuple) -> str:
    """The key as error messages write it (``train.blocks.b.alphas[0]``)."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass(frozen=True)
class Case:
    """One config key with a hostile value."""

    key: str  # the key's place in the schema (the test id)
    path: tuple  # where it is in BASE
    label: str
    value: Any
    schema: dict

    def config(self) -> dict:
        """BASE with this case's value at ``path`` (or, for an unknown key, added)."""
        raw = copy.deepcopy(BASE)
        node = raw
        for part in self.path[:-1]:
            node = node[part]
        node[self.path[-1]] = self.value
        return raw

    @property
    def named(self) -> str:
        """What the error must name: the key (a list item: the list's key)."""
        path = self.path[:-1] if isinstance(self.path[-1], int) else self.path
        return key_path(path)


def _first_per_key(pred) -> dict[str, tuple[tuple, Any, dict]]:
    found: dict[str, tuple[tuple, Any, dict]] = {}
    for path, value, schema in leaves(BASE, SCHEMA):
        if pred(value, schema):
            found.setdefault(schema_key(path), (path, value, schema))
    return found


def numeric_keys() -> dict[str, tuple[tuple, Any, dict]]:
    """Every numeric key of the schema (number or integer, nullable or not)."""
    return _first_per_key(lambda v, s: bool(_types(s) & {"number", "integer"}))


def name_keys() -> dict[str, tuple[tuple, Any, dict]]:
    """Every key whose value is a name: an enum of strings, or a key of another section
    (``x-names``)."""

    def named(value: Any, schema: dict) -> bool:
        enum = [*schema.get("enum", []), schema.get("const")]
        return bool(schema.get("x-names")) or any(isinstance(e, str) for e in enum)

    return _first_per_key(named)


def closed_mappings() -> dict[str, tuple]:
    """Every mapping of the config whose keys the schema lists (``additionalProperties:
    false``) or names (``propertyNames``): where an unknown key must be refused."""
    found: dict[str, tuple] = {}

    def walk(node: Any, schema: dict, path: tuple) -> None:
        from lossscale.config import _child, _resolve

        schema = _resolve(schema, node, SCHEMA)
        if isinstance(node, dict):
            closed = schema.get("additionalProperties") is False or "propertyNames" in schema
            if closed:
                found.setdefault(schema_key(path) or "<top level>", path)
            for key, value in node.items():
                walk(value, _child(schema, key), (*path, key))

    walk(BASE, SCHEMA, ())
    return found


def allowed(value: Any, schema: dict) -> bool:
    """Whether ``value`` is what the schema declares for the key, read independently of
    the validator: a finite number of the declared type within the declared bounds."""
    types = _types(schema)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if not math.isfinite(value):
        return False
    if "number" not in types and not float(value).is_integer():
        return False
    checks = (
        ("minimum", lambda b: value >= b),
        ("maximum", lambda b: value <= b),
        ("exclusiveMinimum", lambda b: value > b),
        ("exclusiveMaximum", lambda b: value < b),
    )
    return all(check(schema[name]) for name, check in checks if name in schema)


def numeric_cases() -> list[Case]:
    cases = []
    for key, (path, _, schema) in numeric_keys().items():
        for label, value in NUMERIC_VALUES:
            if label == "huge":
                value = 1e300 if "number" in _types(schema) else HUGE_INT
            cases.append(Case(key, path, label, value, schema))
    return cases


def name_cases() -> list[Case]:
    return [
        Case(key, path, "unknown", UNKNOWN_NAME, schema)
        for key, (path, _, schema) in name_keys().items()
    ]


def unknown_key_cases() -> list[Case]:
    return [
        Case(key, (*path, UNKNOWN_NAME), "unknown key", 1, {})
        for key, path in closed_mappings().items()
    ]
