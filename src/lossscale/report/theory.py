"""The paper's view of the claims ledger: a theory table, a per-claim list, derivations.

Built only from the derivation stage's result files: ``claims.csv`` (one row per check),
``ledger.json`` (per claim: ``counter_of`` and ``note``) and ``symbolic.json`` (sympy's
LaTeX per symbolic claim).

The theory table has one row per subject (an optimizer, or a variant such as "Adam (eps
inside sqrt)"): the transformations that the checks found exact, how each method
(symbolic, float64 trajectory, float32 bitwise) decided them, and the smallest difference
any of its failing checks measured, so a reader sees that no check passed vacuously.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lossscale.exact import is_power_of_two
from lossscale.tables import BITWISE, CLAIM_METHODS, SYMBOLIC, TRAJECTORY

#: symbolic.json's snippet keys -> context keys ("update" would clash with dict.update
#: in the templates)
SNIPPET_KEYS = {
    "transformation": "transformation",
    "update": "scaled",
    "transformed": "transformed",
    "difference": "difference",
    "state": "state",
    "base": "base",
}


def _extreme(values: Iterable[float | None], pick) -> float | None:
    present = [v for v in values if v is not None]
    return pick(present) if present else None


def _method_cell(rows: list[Mapping[str, Any]]) -> dict[str, Any] | None:
    """How one method decided a subject's exact transformations."""
    if not rows:
        return None
    held = all(r["observed"] == "holds" for r in rows)
    deviations = [r["max_rel_deviation"] for r in rows]
    return {
        "n": len(rows),
        "held": held,
        "max_deviation": _extreme(deviations, max),
        "min_deviation": _extreme(deviations, min),
    }


def _bitwise_cell(rows: list[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Bit-identity at powers of two, and the round-off at other alphas."""
    if not rows:
        return None
    exact = [r for r in rows if is_power_of_two(r["alpha"])]
    other = [r for r in rows if not is_power_of_two(r["alpha"])]
    return {
        "n": len(rows),
        "held": all(r["observed"] == "holds" for r in rows),
        "identical": bool(exact) and all(r["max_rel_deviation"] == 0 for r in exact),
        "roundoff": _extreme((r["max_rel_deviation"] for r in other), max),
    }


def canonical(transformation: str) -> str:
    """A transformation with its terms sorted, so equal ones print once."""
    return ", ".join(sorted(t.strip() for t in transformation.split(",")))


def theory_row(
    subject: str, rows: list[Mapping[str, Any]], counters: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Summarize every ledger row of one subject.

    A method's cell describes the subject's exact claims (expected to hold). Where a
    method checked none of them but checked one of their transformations in a claim
    expected to fail (e.g. Muon's eps/alpha in float64, broken by its bfloat16
    Newton-Schulz step), the cell shows that failure instead. The row is "conditional"
    when a claim that is not a counter-check (``counters``: their ids) finds an exact
    transformation failing in another setting (e.g. LBFGS near convergence).
    """
    holding = [r for r in rows if r["expected"] == "holds"]
    failing = [r for r in rows if r["expected"] == "fails"]
    exact = list(dict.fromkeys(canonical(r["transformation"]) for r in holding))

    def rows_of(method: str) -> list[Mapping[str, Any]]:
        mine = [r for r in holding if r["method"] == method]
        return mine or [
            r for r in failing if r["method"] == method and r["transformation"] in exact
        ]

    return {
        "subject": subject,
        "exact": bool(exact),
        "conditional": any(
            canonical(r["transformation"]) in exact and r["claim_id"] not in counters
            for r in failing
        ),
        "transforms": exact,
        "rejected": list(
            dict.fromkeys(
                canonical(r["transformation"])
                for r in failing
                if canonical(r["transformation"]) not in exact
            )
        ),
        "symbolic": _method_cell(rows_of(SYMBOLIC)),
        "float64": _method_cell(rows_of(TRAJECTORY)),
        "bitwise": _bitwise_cell(rows_of(BITWISE)),
        "counter_min_deviation": _extreme((r["max_rel_deviation"] for r in failing), min),
        "n_checks": len(rows),
        "confirmed": all(r["verdict"] == "confirmed" for r in rows),
    }


def _group(rows: Iterable[Mapping[str, Any]], key: str) -> dict[str, list[Mapping[str, Any]]]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row[key], []).append(row)
    return groups


def theory_table(
    claims: Iterable[Mapping[str, Any]], ledger: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One row per subject, in the order subjects first appear in the ledger."""
    counters = frozenset(k for k, v in ledger.items() if v.get("counter_of"))
    return [theory_row(s, rows, counters) for s, rows in _group(claims, "optimizer").items()]


def claim_list(
    claims: Iterable[Mapping[str, Any]], ledger: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One entry per claim: its checks aggregated over alphas, its pairing and its note."""
    out = []
    for claim_id, rows in _group(claims, "claim_id").items():
        first = rows[0]
        info = ledger.get(claim_id, {})
        deviations = [r["max_rel_deviation"] for r in rows]
        out.append(
            {
                "claim_id": claim_id,
                "subject": first["optimizer"],
                "transformation": first["transformation"],
                "methods": list(dict.fromkeys(r["method"] for r in rows)),
                "n_checks": len(rows),
                "expected": first["expected"],
                "observed": sorted({r["observed"] for r in rows}),
                "min_deviation": _extreme(deviations, min),
                "max_deviation": _extreme(deviations, max),
                "counter_of": info.get("counter_of"),
                "note": info.get("note") or "",
                "confirmed": all(r["verdict"] == "confirmed" for r in rows),
            }
        )
    return out


def derivations(
    claims: Iterable[Mapping[str, Any]], snippets: Mapping[str, Mapping[str, str]]
) -> list[dict[str, Any]]:
    """The sympy derivations of the exact symbolic claims, in ledger order."""
    out = []
    for row in claims:
        snippet = snippets.get(row["claim_id"])
        if row["method"] != SYMBOLIC or row["expected"] != "holds" or snippet is None:
            continue
        out.append(
            {
                "claim_id": row["claim_id"],
                "subject": row["optimizer"],
                "title": snippet["title"],
                **{ours: snippet.get(theirs) for theirs, ours in SNIPPET_KEYS.items()},
            }
        )
    return out


def ledger_counts(claims: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Checks by method and expected outcome (all confirmed, or the run had stopped)."""
    rows = list(claims)
    return [
        {
            "method": method,
            "holds": sum(r["method"] == method and r["expected"] == "holds" for r in rows),
            "fails": sum(r["method"] == method and r["expected"] == "fails" for r in rows),
        }
        for method in CLAIM_METHODS
        if any(r["method"] == method for r in rows)
    ]
