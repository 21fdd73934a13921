"""The paper's theory table: one row per optimizer (or other subject) of the claims ledger.

Each row says which hyperparameter transformation the checks found equivalent to
multiplying the loss by alpha, how each method (symbolic, float64 trajectory, bitwise)
decided it, and how large the difference of the counter-checks was, so a reader sees at
once that no check passed vacuously. Built only from ``claims.csv`` rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

METHODS = ("symbolic", "float64 trajectory", "bitwise")


def _max(values: Iterable[float | None]) -> float | None:
    finite = [v for v in values if v is not None]
    return max(finite) if finite else None


def _min(values: Iterable[float | None]) -> float | None:
    finite = [v for v in values if v is not None]
    return min(finite) if finite else None


def _method_summary(rows: list[Mapping[str, Any]]) -> dict[str, Any] | None:
    """How one method decided the subject's exact claims: count, all held, max deviation."""
    if not rows:
        return None
    return {
        "n": len(rows),
        "held": all(r["observed"] == "holds" for r in rows),
        "max_deviation": _max(r["max_rel_deviation"] for r in rows),
    }


def theory_row(subject: str, rows: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Summarize every ledger row of one subject (an optimizer, or e.g. gradient clipping)."""
    exact = [r for r in rows if r["expected"] == "holds"]
    failing = [r for r in rows if r["expected"] == "fails"]
    transforms = list(dict.fromkeys(r["transformation"] for r in exact))
    rejected = [
        t for t in dict.fromkeys(r["transformation"] for r in failing) if t not in transforms
    ]
    return {
        "subject": subject,
        "exact": bool(transforms),
        "transforms": transforms,
        "rejected": rejected,
        "methods": {m: _method_summary([r for r in exact if r["method"] == m]) for m in METHODS},
        "counter_min_deviation": _min(r["max_rel_deviation"] for r in failing),
        "n_checks": len(rows),
        "confirmed": all(r["verdict"] == "confirmed" for r in rows),
    }


def theory_table(claims: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per subject, in the order subjects first appear in the ledger."""
    by_subject: dict[str, list[Mapping[str, Any]]] = {}
    for row in claims:
        by_subject.setdefault(row["optimizer"], []).append(row)
    return [theory_row(subject, rows) for subject, rows in by_subject.items()]
