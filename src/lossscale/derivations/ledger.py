"""The claims ledger: check every claim, order the rows, write the stage's outputs.

Numeric claims are decided by :mod:`.checks`, symbolic ones by
:mod:`lossscale.derivations.symbolic`; both kinds of work are shared out to a pool of
forked workers (the results do not depend on how many). A contradicted row, of either
kind, fails the stage before anything is written.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from lossscale.derivations.checks import (
    CheckResult,
    check_family,
    describe,
)
from lossscale.derivations.claims import Claim, ClaimsPath, load_ledger
from lossscale.device import make_deterministic
from lossscale.io import write_csv, write_json
from lossscale.tables import CLAIM_COLUMNS, CLAIM_METHODS, SYMBOLIC

COLUMNS = list(CLAIM_COLUMNS)

log = logging.getLogger("lossscale.derivations")


class ClaimContradictedError(RuntimeError):
    """At least one claim's observed verdict differs from its expected verdict."""

    def __init__(self, contradicted: Sequence[dict[str, Any]]) -> None:
        self.contradicted = list(contradicted)
        lines = [f"{len(self.contradicted)} derivation check(s) contradicted:"]
        lines += [f"  {describe(r)}" for r in self.contradicted]
        super().__init__("\n".join(lines))


def _call(task: Callable[[], Any]) -> Any:
    return task()


def run_tasks(tasks: Sequence[Callable[[], Any]], workers: int, threads: int) -> list[Any]:
    """Results of ``tasks`` in order, computed by ``workers`` forked processes (or here)."""
    if workers <= 1 or len(tasks) <= 1:
        return [task() for task in tasks]
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=make_deterministic, initargs=(threads,)) as pool:
        return pool.map(_call, tasks, chunksize=1)


def families(claims: Sequence[Claim]) -> list[list[Claim]]:
    """Claims grouped with their counter-checks (which reuse the claim's scaled runs)."""
    grouped: dict[str, list[Claim]] = {}
    for claim in claims:
        grouped.setdefault(claim.family, []).append(claim)
    return list(grouped.values())


def _no_symbolic() -> tuple[list, dict]:
    return [], {}


def symbolic_checker(entries: Sequence[dict[str, Any]]) -> Callable[[], tuple[list, dict]]:
    """A task deciding the ``method: symbolic`` entries (none: a task with nothing to do).

    Raises at once if there are symbolic entries but no symbolic module.
    """
    if not entries:
        return _no_symbolic
    try:
        from lossscale.derivations.symbolic import check_symbolic
    except ModuleNotFoundError as err:
        if err.name != "lossscale.derivations.symbolic":
            raise
        ids = ", ".join(str(e["id"]) for e in entries)
        raise RuntimeError(
            f"{len(entries)} symbolic claim(s) ({ids}) need lossscale.derivations.symbolic, "
            "which is missing"
        ) from err
    return partial(check_symbolic, [dict(e) for e in entries])


def _checked_symbolic(result: tuple[list, dict]) -> tuple[list[dict], dict[str, str]]:
    rows, snippets = result
    for row in rows:
        if list(row) != COLUMNS or row["method"] != SYMBOLIC:
            raise RuntimeError(f"check_symbolic returned a malformed row: {row!r}")
    return list(rows), dict(snippets)


def check_all(
    claims: Sequence[Claim],
    symbolic: Sequence[dict[str, Any]],
    steps: int,
    tolerance: float,
    float32_tolerance: float,
    workers: int = 1,
    threads: int = 1,
) -> tuple[list[CheckResult], list[dict], dict[str, str]]:
    """Numeric results in claim order, symbolic rows and snippets."""
    groups = families(claims)
    numeric = partial(
        check_family, steps=steps, tolerance=tolerance, float32_tolerance=float32_tolerance
    )
    # LBFGS families first: they take longest, and a long task last idles the pool.
    order = sorted(range(len(groups)), key=lambda i: groups[i][0].optimizer != "LBFGS")
    tasks = [symbolic_checker(symbolic)] + [partial(numeric, groups[i]) for i in order]
    done = run_tasks(tasks, workers, threads)
    by_id = {rs[0].claim.id: rs for family in done[1:] for rs in family}
    for claim in claims:
        log.info(
            "%s: %s loss x alpha == %s, expected %s: %s",
            claim.id,
            claim.optimizer,
            claim.transformation,
            claim.expected,
            "; ".join(r.summary() for r in by_id[claim.id]),
        )
    rows, snippets = _checked_symbolic(done[0])
    return [r for claim in claims for r in by_id[claim.id]], rows, snippets


def check_claims(
    claims: Sequence[Claim],
    steps: int,
    tolerance: float,
    float32_tolerance: float,
    workers: int = 1,
    threads: int = 1,
) -> list[CheckResult]:
    """The numeric results of ``claims``, in claim order."""
    return check_all(claims, [], steps, tolerance, float32_tolerance, workers, threads)[0]


def order_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows grouped by optimizer (in order of first appearance), then by method."""
    subjects = list(dict.fromkeys(r["optimizer"] for r in rows))
    return sorted(
        rows, key=lambda r: (subjects.index(r["optimizer"]), CLAIM_METHODS.index(r["method"]))
    )


def raise_if_contradicted(rows: Sequence[dict[str, Any]]) -> None:
    """Log and raise :class:`ClaimContradictedError` if any row is contradicted."""
    contradicted = [r for r in rows if r["verdict"] != "confirmed"]
    for r in contradicted:
        log.error("contradicted: %s", describe(r))
    if contradicted:
        raise ClaimContradictedError(contradicted)


def ledger_summary(claims: Sequence[Claim], symbolic: Sequence[dict]) -> dict[str, Any]:
    """Per claim id: its counter pairing and note, which claims.csv does not carry."""
    summary = {c.id: {"counter_of": c.counter_of, "note": c.note} for c in claims}
    for e in symbolic:
        summary[str(e["id"])] = {"counter_of": e.get("counter_of"), "note": str(e.get("note", ""))}
    return summary


def run_derivations(
    output: str | Path,
    steps: int,
    tolerance: float,
    threads: int,
    claims_path: ClaimsPath = None,
    symbolic_output: str | Path | None = None,
    ledger_output: str | Path | None = None,
    float32_tolerance: float = 1e-4,
    workers: int = 1,
) -> pd.DataFrame:
    """Check all claims and write the outputs; raise (writing nothing) on a contradiction.

    ``output``: claims.csv; ``symbolic_output``: the symbolic derivations' LaTeX snippets
    by claim id (JSON); ``ledger_output``: :func:`ledger_summary` (JSON).
    """
    make_deterministic(threads)
    ledger = load_ledger(claims_path)
    results, symbolic_rows, snippets = check_all(
        ledger.claims, ledger.symbolic, steps, tolerance, float32_tolerance, workers, threads
    )
    rows = order_rows([r.row() for r in results] + symbolic_rows)
    raise_if_contradicted(rows)
    table = pd.DataFrame(rows, columns=COLUMNS)
    write_csv(table, output)
    if symbolic_output is not None:
        write_json(snippets, symbolic_output)
    if ledger_output is not None:
        write_json(ledger_summary(ledger.claims, ledger.symbolic), ledger_output)
    log.info("all %d checks confirmed; wrote %s", len(table), output)
    return table
