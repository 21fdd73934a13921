"""The theory table, claim list and derivations built from claims-ledger rows."""

from __future__ import annotations

import math

import pytest

from lossscale.exact import is_power_of_two
from lossscale.report.theory import (
    canonical,
    claim_list,
    derivations,
    ledger_counts,
    theory_table,
)


def row(claim, subject, transformation, method, alpha, expected, deviation, observed=None):
    observed = observed or expected
    return {
        "claim_id": claim,
        "optimizer": subject,
        "transformation": transformation,
        "method": method,
        "alpha": alpha,
        "expected": expected,
        "observed": observed,
        "max_rel_deviation": deviation,
        "tolerance": 1e-9,
        "verdict": "confirmed" if observed == expected else "contradicted",
    }


ROWS = [
    row("adam-eps", "Adam", "eps/alpha", "float64 trajectory", 10.0, "holds", 2e-16),
    row("adam-eps", "Adam", "eps/alpha", "float64 trajectory", 1e4, "holds", 5e-16),
    row("adam-eps", "Adam", "eps/alpha", "bitwise", 1024.0, "holds", 0.0),
    row("adam-eps", "Adam", "eps/alpha", "bitwise", 1000.0, "holds", 3e-8),
    row("adam-eps-counter", "Adam", "none", "float64 trajectory", 10.0, "fails", 0.2),
    row("adam-eps-counter", "Adam", "none", "float64 trajectory", 1e4, "fails", 0.7),
    row("sym-adam", "Adam", "eps/alpha", "symbolic", None, "holds", 0.0),
    row("muon-pow2", "Muon", "eps/alpha", "bitwise", 2048.0, "holds", 0.0),
    row("muon-eps", "Muon", "eps/alpha", "float64 trajectory", 10.0, "fails", 0.01),
    row("radam", "RAdam", "eps/alpha", "float64 trajectory", 10.0, "fails", 0.005),
    row("dd-a", "Adadelta", "lr*alpha, eps/alpha^2", "float64 trajectory", 10.0, "holds", 1e-16),
    row("dd-b", "Adadelta", "eps/alpha^2, lr*alpha", "symbolic", None, "holds", 0.0),
]
LEDGER = {
    "adam-eps-counter": {"counter_of": "adam-eps", "note": ""},
    "muon-eps": {"counter_of": None, "note": "bfloat16 Newton-Schulz"},
}


@pytest.fixture(scope="module")
def table():
    return {t["subject"]: t for t in theory_table(ROWS, LEDGER)}


def test_subjects_keep_ledger_order(table):
    assert list(table) == ["Adam", "Muon", "RAdam", "Adadelta"]


def test_exact_subject_summarizes_each_method(table):
    adam = table["Adam"]
    assert adam["exact"] and adam["transforms"] == ["eps/alpha"]
    assert adam["symbolic"]["held"] is True
    assert adam["float64"]["max_deviation"] == 5e-16
    assert adam["bitwise"]["identical"] is True and adam["bitwise"]["roundoff"] == 3e-8
    assert adam["counter_min_deviation"] == 0.2
    assert adam["rejected"] == ["none"]
    assert not adam["conditional"], "a counter-check does not make a claim conditional"


def test_method_without_exact_claims_shows_the_failure(table):
    muon = table["Muon"]
    assert muon["conditional"], "a non-counter claim found eps/alpha failing"
    assert muon["float64"] == {
        "n": 1, "held": False, "max_deviation": 0.01, "min_deviation": 0.01
    }  # fmt: skip
    assert muon["symbolic"] is None


def test_subject_without_exact_transformation(table):
    radam = table["RAdam"]
    assert not radam["exact"] and radam["transforms"] == [] and radam["rejected"] == ["eps/alpha"]


def test_equal_transformations_written_differently_print_once(table):
    assert table["Adadelta"]["transforms"] == ["eps/alpha^2, lr*alpha"]
    assert canonical("lr*alpha, eps/alpha^2") == canonical("eps/alpha^2,lr*alpha")


@pytest.mark.parametrize(
    ("alpha", "expected"),
    [(1024.0, True), (2.0**-10, True), (1.0, True), (1000.0, False), (3.0, False), (None, False)],
)
def test_is_power_of_two(alpha, expected):
    assert is_power_of_two(alpha) is expected


def test_claim_list_aggregates_over_alphas():
    claims = {c["claim_id"]: c for c in claim_list(ROWS, LEDGER)}
    adam = claims["adam-eps"]
    assert adam["n_checks"] == 4 and adam["methods"] == ["float64 trajectory", "bitwise"]
    assert (adam["min_deviation"], adam["max_deviation"]) == (0.0, 3e-8)
    assert claims["adam-eps-counter"]["counter_of"] == "adam-eps"
    assert claims["muon-eps"]["note"] == "bfloat16 Newton-Schulz"
    assert claims["radam"]["note"] == "" and claims["radam"]["counter_of"] is None


def test_derivations_take_exact_symbolic_claims_only():
    snippets = {
        "sym-adam": {"title": "Adam", "update": "u", "transformed": "t", "difference": "0"},
        "adam-eps": {"title": "not symbolic", "update": "x"},
    }
    out = derivations(ROWS, snippets)
    assert [d["claim_id"] for d in out] == ["sym-adam"]
    assert out[0]["scaled"] == "u" and out[0]["state"] is None


def test_ledger_counts_by_method():
    counts = {c["method"]: (c["holds"], c["fails"]) for c in ledger_counts(ROWS)}
    assert counts == {"symbolic": (2, 0), "float64 trajectory": (3, 4), "bitwise": (3, 0)}
    assert math.isclose(sum(sum(v) for v in counts.values()), len(ROWS))
