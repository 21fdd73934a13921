"""Symbolic claims: validation, one ledger row per claim, LaTeX snippets for the paper.

A claim names a sympy step function (``rule``), its weight decay and optional fixed
hyperparameters; a counter-check (``counter_of``) inherits these from the claim it
guards, as the numeric claims do, and states only its own transformation and verdict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from lossscale.derivations.symbolic.engine import (
    ALPHA,
    DECAY_HYPERPARAMETER,
    LATEX_NAMES,
    Assessed,
    Setup,
    assess,
    hp_symbol,
    latex,
    sample_values,
    solve_first_difference,
    stages,
)
from lossscale.derivations.symbolic.rules import RULES, Rule
from lossscale.derivations.transforms import Term, parse_transformation
from lossscale.tables import CLAIM_COLUMNS, SYMBOLIC

METHOD = SYMBOLIC
OUTCOMES = ("holds", "fails")
#: Keys of a claim; a counter-check inherits ``INHERITED`` from its claim instead.
REQUIRED = frozenset({"id", "method", "optimizer", "rule", "transformation", "expected"})
OPTIONAL = frozenset({"decay", "hyperparameters", "solve_for", "note"})
COUNTER_REQUIRED = frozenset({"id", "method", "counter_of", "transformation", "expected"})
COUNTER_OPTIONAL = frozenset({"solve_for", "note"})
INHERITED = ("optimizer", "rule", "decay", "hyperparameters")

_DECAY_LABEL = {
    "none": "",
    "coupled": ", coupled weight decay",
    "decoupled": ", decoupled weight decay",
    "l2_loss": ", L2 term in the loss",
}


class SymbolicClaimError(ValueError):
    """A symbolic claim is malformed; the message names the claim id and the key."""


@dataclass(frozen=True)
class SymbolicClaim:
    """'For ``rule``, loss x alpha equals ``transformation``', checked by sympy."""

    id: str
    optimizer: str
    rule: Rule
    transformation: str
    terms: tuple[Term, ...]
    expected: str
    decay: str = "none"
    hyperparameters: Mapping[str, sp.Rational] = field(default_factory=dict)
    solve_for: str | None = None
    counter_of: str | None = None
    note: str = ""

    def setup(self) -> Setup:
        """Run A's hyperparameters (symbols, or the claim's fixed values) and run B's."""
        names = hyperparameter_names(self.rule, self.decay)
        base = {name: self.hyperparameters.get(name, hp_symbol(name)) for name in names}
        transformed = dict(base)
        for term in self.terms:
            factor = ALPHA**term.power
            value = base[term.name]
            transformed[term.name] = value * factor if term.op == "*" else value / factor
        return Setup(self.rule, self.decay, base, transformed)


def hyperparameter_names(rule: Rule, decay: str) -> tuple[str, ...]:
    """The rule's hyperparameters plus the one its weight decay adds."""
    extra = (DECAY_HYPERPARAMETER[decay],) if decay != "none" else ()
    return (*rule.hyperparameters, *extra)


def _fail(cid: str, key: str, message: str) -> SymbolicClaimError:
    return SymbolicClaimError(f"symbolic claim {cid}: key {key!r}: {message}")


def _check_keys(entry: Mapping[str, Any], cid: str, required: frozenset, optional: frozenset):
    missing = sorted(required - entry.keys())
    if missing:
        raise _fail(cid, missing[0], "missing")
    unknown = sorted(map(str, entry.keys() - required - optional))
    if unknown:
        allowed = sorted(required | optional)
        raise _fail(cid, unknown[0], f"unknown key here (allowed: {allowed})")


def _number(cid: str, name: str, value: Any) -> sp.Rational:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(cid, "hyperparameters", f"{name} = {value!r} is not a finite number")
    return sp.Rational(repr(value))


def _terms(cid: str, text: Any, known: tuple[str, ...]) -> tuple[Term, ...]:
    if not isinstance(text, str):
        raise _fail(cid, "transformation", f"{text!r} is not text")
    try:
        terms = parse_transformation(text)
    except ValueError as err:
        raise _fail(cid, "transformation", str(err)) from None
    for term in terms:
        if term.op == "=" or term.index is not None:
            raise _fail(cid, "transformation", f"{text!r}: only name*alpha^k, name/alpha^k")
        if term.name not in known:
            raise _fail(cid, "transformation", f"{term.name!r} is not one of {known}")
    return terms


def parse_claim(entry: Mapping[str, Any]) -> SymbolicClaim:
    """Validate one complete claim mapping (a counter-check after inheriting)."""
    cid = str(entry["id"])
    for key in ("id", "optimizer"):
        if not isinstance(entry[key], str) or not entry[key].strip():
            raise _fail(cid, key, "must be a non-empty string")
    if entry["method"] != METHOD:
        raise _fail(cid, "method", f"{entry['method']!r} is not {METHOD!r}")
    rule = RULES.get(entry["rule"])
    if rule is None:
        raise _fail(cid, "rule", f"{entry['rule']!r} is not one of {sorted(RULES)}")
    if entry["expected"] not in OUTCOMES:
        raise _fail(cid, "expected", f"{entry['expected']!r} is not one of {OUTCOMES}")
    decay = entry.get("decay", "none")
    if decay not in rule.decays:
        raise _fail(cid, "decay", f"{decay!r} is not one of {rule.name}'s {rule.decays}")
    known = hyperparameter_names(rule, decay)
    fixed = entry.get("hyperparameters") or {}
    if not isinstance(fixed, Mapping):
        raise _fail(cid, "hyperparameters", "must be a mapping name: number")
    stray = sorted(map(str, fixed.keys() - set(known)))
    if stray:
        raise _fail(cid, "hyperparameters", f"{stray[0]!r} is not one of {known}")
    solve_for = entry.get("solve_for")
    if solve_for is not None and solve_for not in known:
        raise _fail(cid, "solve_for", f"{solve_for!r} is not one of {known}")
    return SymbolicClaim(
        id=cid,
        optimizer=entry["optimizer"],
        rule=rule,
        transformation=entry["transformation"],
        terms=_terms(cid, entry["transformation"], known),
        expected=entry["expected"],
        decay=decay,
        hyperparameters={k: _number(cid, k, v) for k, v in sorted(fixed.items())},
        solve_for=solve_for,
        counter_of=entry.get("counter_of"),
        note=str(entry.get("note", "")),
    )


def parse_claims(entries: Sequence[Any]) -> list[SymbolicClaim]:
    """Validate raw claim mappings strictly: keys, ids, rules, values, ``counter_of`` links."""
    by_id: dict[str, Mapping[str, Any]] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise SymbolicClaimError(f"symbolic claim #{index}: expected a mapping: {entry!r}")
        cid = str(entry.get("id", f"#{index}"))
        if "counter_of" in entry:
            _check_keys(entry, cid, COUNTER_REQUIRED, COUNTER_OPTIONAL)
        else:
            _check_keys(entry, cid, REQUIRED, OPTIONAL)
        if cid in by_id:
            raise _fail(cid, "id", "duplicated")
        by_id[cid] = entry
    complete = []
    for cid, entry in by_id.items():
        if "counter_of" in entry:
            parent = by_id.get(str(entry["counter_of"]))
            if parent is None or "counter_of" in parent:
                raise _fail(cid, "counter_of", f"{entry['counter_of']!r} is not a claim")
            if parent["expected"] != "holds" or entry["expected"] != "fails":
                raise _fail(cid, "counter_of", "a counter-check expects fails of a holds claim")
            entry = {**{k: parent[k] for k in INHERITED if k in parent}, **entry}
        complete.append(parse_claim(entry))
    return complete


def _name(name: str, scaled: bool, superscript: str) -> str:
    base = f"{{{LATEX_NAMES.get(name, name)}}}^{{{superscript}}}"
    return base + r"_{\alpha}" if scaled else base


def _relation(item: Assessed, superscript: str = "+") -> str:
    """``x_alpha - alpha^k x = difference`` for one state entry."""
    power = item.quantity.power
    factor = "" if power == 0 else latex(ALPHA**power) + r"\,"
    name = item.quantity.name
    return (
        f"{_name(name, True, superscript)} - {factor}{_name(name, False, superscript)}"
        f" = {latex(item.difference)}"
    )


def _transformation_latex(claim: SymbolicClaim) -> str:
    if not claim.terms:
        return r"\text{none}"
    parts = []
    for term in claim.terms:
        symbol = hp_symbol(term.name)
        value = symbol * ALPHA**term.power if term.op == "*" else symbol / ALPHA**term.power
        parts.append(f"{latex(symbol)} \\mapsto {latex(value)}")
    return r",\ ".join(parts)


def _title(claim: SymbolicClaim) -> str:
    """Plain text (no LaTeX specials): the rule, its weight decay, its fixed values."""
    fixed = ", ".join(
        f"{name.replace('_', ' ')} = {float(value):g}"
        for name, value in claim.hyperparameters.items()
    )
    return claim.rule.label + _DECAY_LABEL[claim.decay] + (f" ({fixed})" if fixed else "")


def snippets(claim: SymbolicClaim, checked: list[list[Assessed]]) -> dict[str, str]:
    """LaTeX: both runs' generic step, the differences, the base case, the solution."""
    theta, *states = checked[-1]
    out = {
        "title": _title(claim),
        "transformation": _transformation_latex(claim),
        "update": r"\theta^{+}_{\alpha} = " + latex(theta.quantity.scaled),
        "transformed": r"\theta^{+} = " + latex(theta.quantity.transformed),
        "difference": r"\theta^{+}_{\alpha} - \theta^{+} = " + latex(theta.difference),
    }
    if states:
        out["state"] = r",\quad ".join(_relation(item) for item in states)
    if claim.rule.first_step:
        initial, first = checked[0], checked[1]
        parts = [_relation(item, "0") for item in initial]
        step = r"\left.\left(\theta^{+}_{\alpha} - \theta^{+}\right)\right|_{t=1} = "
        parts.append(step + latex(first[0].difference))
        out["base"] = r",\quad ".join(parts)
    if claim.solve_for is not None:
        solutions = solve_first_difference(claim.setup(), claim.solve_for)
        unknown = LATEX_NAMES.get(claim.solve_for, claim.solve_for) + "'"
        out["solution"] = f"{unknown} \\in " + latex(sp.FiniteSet(*solutions))
    return out


def check_claim(claim: SymbolicClaim) -> tuple[dict[str, Any], dict[str, str]]:
    """The ledger row and the LaTeX snippets of one claim."""
    values = sample_values(claim.rule)
    checked = [[assess(q, values) for q in stage.quantities] for stage in stages(claim.setup())]
    items = [item for stage in checked for item in stage]
    observed = "holds" if all(item.difference == 0 for item in items) else "fails"
    row = {
        "claim_id": claim.id,
        "optimizer": claim.optimizer,
        "transformation": claim.transformation,
        "method": METHOD,
        "alpha": math.nan,
        "expected": claim.expected,
        "observed": observed,
        "max_rel_deviation": max(item.size for item in items),
        "tolerance": 0.0,
        "verdict": "confirmed" if observed == claim.expected else "contradicted",
    }
    return {column: row[column] for column in CLAIM_COLUMNS}, snippets(claim, checked)


def check_symbolic(claims: list[dict]) -> tuple[list[dict], dict[str, dict]]:
    """Check raw ``method: symbolic`` claim mappings; rows for claims.csv and LaTeX snippets.

    Rows carry exactly :data:`lossscale.tables.CLAIM_COLUMNS` (``alpha`` NaN: symbolic in
    alpha; ``tolerance`` 0); ``observed`` is ``holds`` iff every difference simplifies to
    exactly zero. Contradictions are reported in ``verdict``, not raised.
    """
    rows, latex_snippets = [], {}
    for claim in parse_claims(claims):
        row, snippet = check_claim(claim)
        rows.append(row)
        latex_snippets[claim.id] = snippet
    return rows, latex_snippets
