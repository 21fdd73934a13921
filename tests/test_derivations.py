"""The derivations stage: each claim's check, its power, the ledger and claims.csv."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
import torch
import yaml

from lossscale.derivations import (
    COLUMNS,
    ClaimContradictedError,
    ClaimsFileError,
    check_claim,
    load_claims,
    run_derivations,
)
from lossscale.derivations.ledger import default_claims_path
from lossscale.derivations.trajectories import (
    default_hyperparameter,
    make_problem,
    max_rel_deviation,
    parse_transformation,
    transform_hyperparameters,
)

STEPS = 20
TOL = 1e-9
CLAIMS = load_claims()
BY_ID = {c.id: c for c in CLAIMS}


@pytest.fixture(autouse=True)
def _restore_torch_settings():
    """run_derivations sets global torch state; give it back after each test."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic)


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: c.id)
def test_each_claim_observed_as_expected(claim):
    results = check_claim(claim, STEPS, TOL)
    assert [r.alpha for r in results] == list(claim.alphas)
    for r in results:
        assert r.observed == claim.expected, r.describe()
        assert r.verdict == "confirmed"


@pytest.mark.parametrize("claim", [c for c in CLAIMS if c.expected == "holds"], ids=lambda c: c.id)
def test_holding_claims_are_not_vacuous(claim):
    """Leaving the hyperparameters untransformed is detected at every alpha != 1."""
    untransformed = dataclasses.replace(claim, transformation="none", expected="fails")
    for r in check_claim(untransformed, STEPS, TOL):
        if r.alpha != 1.0:
            assert r.max_rel_deviation > 1e3 * TOL, r.describe()


def test_counter_check_is_in_the_eps_regime_and_fails_by_far():
    claim = BY_ID["adam-eps-unchanged"]
    (result,) = check_claim(claim, STEPS, TOL)
    eps = claim.hyperparameters.get("eps", default_hyperparameter(claim.optimizer_cls, "eps"))
    assert result.gradient_rms < 1e-2 * eps
    assert result.max_rel_deviation > 1e6 * TOL
    assert result.observed == "fails"


def test_flipped_expectation_raises_and_names_the_claim(tmp_path):
    entries = yaml.safe_load(default_claims_path().read_text())["claims"]
    flipped = next(e for e in entries if e["id"] == "adam-eps")
    flipped = {**flipped, "expected": "fails", "alphas": [10]}
    ledger = tmp_path / "claims.yaml"
    ledger.write_text(yaml.safe_dump({"claims": [flipped]}))
    out = tmp_path / "claims.csv"
    with pytest.raises(ClaimContradictedError) as err:
        run_derivations(out, steps=STEPS, tolerance=TOL, threads=1, claims_path=ledger)
    message = str(err.value)
    assert "adam-eps (alpha=10)" in message
    assert "observed holds, expected fails" in message
    assert [r.claim.id for r in err.value.contradicted] == ["adam-eps"]
    assert not out.exists()


def test_csv_has_exact_columns_and_is_byte_identical(tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    run_derivations(first, steps=5, tolerance=TOL, threads=1)
    run_derivations(second, steps=5, tolerance=TOL, threads=1)
    assert first.read_bytes() == second.read_bytes()
    table = pd.read_csv(first)
    assert list(table.columns) == COLUMNS
    assert len(table) == sum(len(c.alphas) for c in CLAIMS)
    assert set(table["method"]) == {"float64 trajectory"}
    assert (table["observed"] == table["expected"]).all()
    assert (table["verdict"] == "confirmed").all()


def test_transformation_parsing_and_application():
    assert parse_transformation("none") == ()
    assert parse_transformation("eps/alpha, initial_accumulator_value/alpha^2") == (
        ("eps", "/", 1),
        ("initial_accumulator_value", "/", 2),
    )
    hp = transform_hyperparameters(torch.optim.Adagrad, {"lr": 0.1}, "eps/alpha, lr*alpha^2", 4.0)
    assert hp == {"lr": 1.6, "eps": 1e-10 / 4.0}
    with pytest.raises(ValueError, match="not of the form"):
        parse_transformation("eps/beta")


def test_max_rel_deviation_definition():
    b = torch.tensor([[1.0, -2.0], [2.0, 4.0]], dtype=torch.float64)
    a = b + torch.tensor([[0.0, 0.0], [0.4, -0.1]], dtype=torch.float64)
    assert max_rel_deviation(a, b) == pytest.approx(0.1)
    a[1, 0] = float("nan")
    assert max_rel_deviation(a, b) == float("inf")


def test_problem_gradients_scale_as_target_scale_squared():
    unit, tiny = make_problem(1.0), make_problem(1e-5)
    params = unit.initial_parameters(0)
    assert torch.equal(params[0], tiny.initial_parameters(0)[0])
    assert tiny.loss(params).item() == pytest.approx(1e-10 * unit.loss(params).item(), rel=1e-12)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"optimizer": "Adamm"}, "not in torch.optim"),
        ({"expected": "maybe"}, "expected 'maybe'"),
        ({"transformation": "eps/alpha^"}, "not of the form"),
        ({"hyperparameters": {"epsilon": 1.0e-8}}, "no hyperparameters ['epsilon']"),
        ({"alphas": [-1]}, "not a finite number > 0"),
        ({"hyperparameters": {"eps": "1e-7"}}, "are text"),
    ],
)
def test_malformed_claims_are_rejected_with_the_claim_named(tmp_path, change, fragment):
    entry = {
        "id": "bad-claim",
        "optimizer": "Adam",
        "transformation": "eps/alpha",
        "alphas": [10],
        "target_scale": 1.0,
        "expected": "holds",
        **change,
    }
    ledger = tmp_path / "claims.yaml"
    ledger.write_text(yaml.safe_dump({"claims": [entry]}))
    with pytest.raises(ClaimsFileError) as err:
        load_claims(ledger)
    assert "bad-claim" in str(err.value)
    assert fragment in str(err.value)
