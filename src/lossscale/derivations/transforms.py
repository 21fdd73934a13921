"""The transformation grammar of the claims: which settings change, and how, with alpha.

A transformation is ``none`` or comma-separated terms, each naming an optimizer
hyperparameter or a :class:`~lossscale.derivations.trajectories.Training` setting:

* ``name*alpha``, ``name/alpha``, ``name*alpha^k``, ``name/alpha^k``: scale the value;
* ``name[i]/alpha`` (and the other operators): scale item ``i`` of a tuple value
  (Adafactor's ``eps = (eps1, eps2)``);
* ``name=value``: replace the value by a word (``loss=focal``).
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lossscale.derivations.trajectories import Training

TRAINING_SETTINGS = tuple(f.name for f in dataclasses.fields(Training))

_TERM = re.compile(
    r"^(?P<name>[A-Za-z_]\w*)(?:\[(?P<index>\d+)\])?\s*"
    r"(?:(?P<op>[*/])\s*alpha(?:\s*\^\s*(?P<power>\d+))?|=\s*(?P<value>\w+))$"
)


@dataclass(frozen=True)
class Term:
    """One term: ``name[index] op alpha^power``, or ``name = value``."""

    name: str
    op: str
    power: int = 1
    index: int | None = None
    value: str | None = None


def parse_transformation(text: str) -> tuple[Term, ...]:
    """Parse ``"none"`` or comma-separated terms (see the module docstring)."""
    if text.strip() == "none":
        return ()
    terms = []
    for part in text.split(","):
        match = _TERM.match(part.strip())
        if match is None:
            raise ValueError(
                f"transformation term {part.strip()!r} is not of the form name*alpha, "
                "name/alpha, name*alpha^k, name/alpha^k, name[i]/alpha or name=word (or 'none')"
            )
        index = None if match["index"] is None else int(match["index"])
        if match["value"] is not None:
            terms.append(Term(match["name"], "=", index=index, value=match["value"]))
        else:
            terms.append(Term(match["name"], match["op"], int(match["power"] or 1), index))
    names = [(t.name, t.index) for t in terms]
    if len(set(names)) != len(names):
        raise ValueError(f"transformation {text!r} names a setting twice")
    return tuple(terms)


def default_hyperparameter(optimizer_cls: Callable[..., Any], name: str) -> Any:
    """The default value of keyword ``name`` in the optimizer's constructor."""
    param = inspect.signature(optimizer_cls).parameters.get(name)
    if param is None or param.default is inspect.Parameter.empty:
        raise ValueError(f"{optimizer_cls.__name__} has no hyperparameter {name!r} with a default")
    return param.default


def _scaled(value: Any, term: Term, alpha: float, where: str) -> Any:
    if term.op == "=":
        return term.value
    if term.index is not None:
        if not isinstance(value, tuple) or term.index >= len(value):
            raise ValueError(f"{where} = {value!r} has no item {term.index}")
        items = list(value)
        items[term.index] = _scaled(
            items[term.index], dataclasses.replace(term, index=None), alpha, where
        )
        return tuple(items)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where} = {value!r} is not a number to scale with alpha")
    factor = alpha**term.power
    return value * factor if term.op == "*" else value / factor


def transform(
    optimizer_cls: Callable[..., Any],
    hyperparameters: Mapping[str, Any],
    training: Training,
    transformation: str,
    alpha: float,
) -> tuple[dict[str, Any], Training]:
    """Apply ``transformation`` at ``alpha``: new hyperparameters and training settings.

    A hyperparameter missing from ``hyperparameters`` starts from the optimizer's default.
    """
    hp = dict(hyperparameters)
    changes: dict[str, Any] = {}
    for term in parse_transformation(transformation):
        if term.name in TRAINING_SETTINGS:
            value = changes.get(term.name, getattr(training, term.name))
            changes[term.name] = _scaled(value, term, alpha, term.name)
        else:
            value = hp.get(term.name, default_hyperparameter(optimizer_cls, term.name))
            hp[term.name] = _scaled(value, term, alpha, term.name)
    return hp, dataclasses.replace(training, **changes)
