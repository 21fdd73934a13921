"""Hyperparameter specifications: names, defaults and bounds, checked and written as schema.

An optimizer's keywords are declared once, in its registry entry
(:mod:`lossscale.study.optimizers`), with these types. The stacked implementation checks
per-replica values against them (:meth:`Real.check`), and the config schema's section
for the optimizer is generated from them (:func:`keyword_schema`), so the two cannot
disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Real:
    """A real hyperparameter: a finite float (or one per replica) within bounds."""

    default: float
    low: float | None = 0.0
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def rule(self) -> str:
        """The allowed range in words, e.g. ``0 <= value < 1``."""
        text = "value"
        if self.low is not None:
            text = f"{self.low:g} {'<' if self.low_open else '<='} {text}"
        if self.high is not None:
            text = f"{text} {'<' if self.high_open else '<='} {self.high:g}"
        return text

    def check(self, label: str, values: np.ndarray) -> None:
        """Raise ``ValueError`` naming ``label``, the first bad value and the rule."""
        bad = ~np.isfinite(values)
        if self.low is not None:
            bad |= values <= self.low if self.low_open else values < self.low
        if self.high is not None:
            bad |= values >= self.high if self.high_open else values > self.high
        if bad.any():
            i = int(np.argmax(bad))
            where = f" (replica {i})" if values.size > 1 else ""
            raise ValueError(
                f"{label}: value {float(values[i])!r}{where} is not allowed; allowed: a finite "
                f"float with {self.rule()}, or one such float per replica"
            )

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "number"}
        if self.low is not None:
            out["exclusiveMinimum" if self.low_open else "minimum"] = self.low
        if self.high is not None:
            out["exclusiveMaximum" if self.high_open else "maximum"] = self.high
        return out


@dataclass(frozen=True)
class Flag:
    """A boolean hyperparameter; ``per_replica`` flags may also be given as R bools."""

    default: bool
    per_replica: bool = False

    def schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


@dataclass(frozen=True)
class Integer:
    """An integer hyperparameter of a per-replica optimizer (``None`` allowed if nullable)."""

    default: int | None
    low: int = 1
    high: int | None = None
    nullable: bool = False

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": ["integer", "null"] if self.nullable else "integer"}
        out["minimum"] = self.low
        if self.high is not None:
            out["maximum"] = self.high
        return out


@dataclass(frozen=True)
class Choice:
    """One of a few values (a name or ``None``)."""

    default: str | None
    options: tuple[str | None, ...]

    def schema(self) -> dict[str, Any]:
        return {"enum": list(self.options)}


@dataclass(frozen=True)
class Numbers:
    """A fixed-length tuple of numbers (entries may be ``None`` if nullable)."""

    default: tuple[float | None, ...]
    nullable: bool = False

    def schema(self) -> dict[str, Any]:
        item = ["number", "null"] if self.nullable else "number"
        n = len(self.default)
        return {"type": "array", "items": {"type": item}, "minItems": n, "maxItems": n}


Keyword = Real | Flag | Integer | Choice | Numbers
#: Hyperparameter specifications by flat name, and tuple keywords split into flat names.
Spec = Mapping[str, Keyword]
Pairs = Mapping[str, tuple[str, ...]]

#: How the schema describes a keyword, unless the registry entry says otherwise.
KEYWORD_DOCS = {
    "lr": "Learning rate.",
    "eps": "Denominator epsilon.",
    "betas": "The pair (beta1, beta2).",
    "momentum": "Momentum.",
    "nesterov": "Nesterov momentum.",
    "amsgrad": "AMSGrad variant.",
    "dampening": "Dampening of the momentum.",
}


def public_defaults(spec: Spec, pairs: Pairs) -> dict[str, Any]:
    """The keywords as a user passes them (pairs joined into tuples) and their defaults."""
    first = {names[0]: public for public, names in pairs.items()}
    paired = {n for names in pairs.values() for n in names}
    out: dict[str, Any] = {}
    for key, kind in spec.items():
        if key in first:  # a pair sits where its first entry is
            out[first[key]] = tuple(spec[n].default for n in pairs[first[key]])
        elif key not in paired:
            out[key] = kind.default
    return out


def keyword_schema(
    spec: Spec,
    pairs: Pairs,
    *,
    defaults: Mapping[str, Any],
    docs: Mapping[str, str],
    skip: frozenset[str],
) -> dict[str, Any]:
    """The JSON-schema ``properties`` of the public keywords, without those in ``skip``,
    with ``defaults`` overriding the spec's."""
    paired = {n for names in pairs.values() for n in names}
    properties: dict[str, Any] = {}
    for key, kind in spec.items():
        if key in paired or key in skip:
            continue
        properties[key] = kind.schema()
    for public, names in pairs.items():
        first = spec[names[0]].schema()
        properties[public] = {
            "type": "array",
            "items": {"type": first["type"]},
            "minItems": len(names),
            "maxItems": len(names),
        }
    out = {}
    for key, default in public_defaults(spec, pairs).items():
        if key not in properties:
            continue
        value = defaults.get(key, default)
        if isinstance(value, tuple):
            value = list(value)
        doc = docs.get(key) or KEYWORD_DOCS.get(key)
        if doc is None:
            raise KeyError(f"keyword {key!r} has no description (add it to the registry entry)")
        out[key] = {**properties[key], "default": value, "description": doc}
    return out
