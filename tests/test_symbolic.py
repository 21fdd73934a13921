"""Symbolic claims: verdicts, counter-checks, validation, snippets, fidelity to torch.optim."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
import sympy as sp
import torch

from lossscale.derivations.claims import default_claims_dir, load_ledger
from lossscale.derivations.symbolic import (
    RULES,
    SymbolicClaimError,
    check_symbolic,
    parse_claims,
)
from lossscale.derivations.symbolic.engine import (
    ALPHA,
    GRAD,
    apply_step,
    hp_symbol,
    sample_values,
    solve_first_difference,
    stages,
    state_symbol,
)
from lossscale.derivations.symbolic.rules import RAdamRho
from lossscale.optim.keras_style import KerasAdagrad, KerasRMSprop
from lossscale.optim.lion import Lion
from lossscale.optim.signsgd import SignSGD
from lossscale.tables import CLAIM_COLUMNS

RAW = load_ledger(default_claims_dir() / "symbolic.yaml").symbolic
CLAIMS = {c.id: c for c in parse_claims(RAW)}
HOLDS = [cid for cid, c in CLAIMS.items() if c.expected == "holds"]
COUNTERS = [cid for cid, c in CLAIMS.items() if c.counter_of is not None]


@pytest.fixture(scope="module")
def checked() -> tuple[dict[str, dict], dict[str, dict]]:
    rows, snippets = check_symbolic(copy.deepcopy(RAW))
    return {r["claim_id"]: r for r in rows}, snippets


def _entry(**overrides: Any) -> dict[str, Any]:
    entry = {
        "id": "t-adam",
        "method": "symbolic",
        "optimizer": "Adam",
        "rule": "adam",
        "transformation": "eps/alpha",
        "expected": "holds",
    }
    return {**entry, **overrides}


def test_rows_carry_exactly_the_claim_columns(checked):
    rows, _ = checked
    assert list(rows) == [e["id"] for e in RAW]
    for row in rows.values():
        assert tuple(row) == CLAIM_COLUMNS
        assert row["method"] == "symbolic"
        assert math.isnan(row["alpha"])
        assert row["tolerance"] == 0.0


@pytest.mark.parametrize("cid", list(CLAIMS))
def test_each_claim_observed_as_expected(checked, cid):
    row = checked[0][cid]
    assert row["observed"] == CLAIMS[cid].expected, row
    assert row["verdict"] == "confirmed"


@pytest.mark.parametrize("cid", HOLDS)
def test_holding_claims_simplify_to_zero(checked, cid):
    row = checked[0][cid]
    assert row["max_rel_deviation"] == 0.0
    assert checked[1][cid]["difference"].endswith("= 0")


@pytest.mark.parametrize("cid", HOLDS)
def test_every_holding_claim_has_a_counter_check(cid):
    assert any(CLAIMS[c].counter_of == cid for c in COUNTERS)


@pytest.mark.parametrize("cid", COUNTERS)
def test_counter_checks_fail_visibly(checked, cid):
    row = checked[0][cid]
    assert row["observed"] == "fails"
    assert row["max_rel_deviation"] > 1e-3
    assert row["optimizer"] == CLAIMS[CLAIMS[cid].counter_of].optimizer


def test_required_optimizers_are_covered():
    covered = {(c.rule.name, c.decay) for c in CLAIMS.values() if c.expected == "holds"}
    rules = {rule for rule, _ in covered}
    required = {
        "sgd",
        "sgd_nesterov",
        "adam",
        "adam_amsgrad",
        "nadam",
        "rmsprop",
        "rmsprop_centered",
        "adagrad",
        "adamax",
        "lion",
        "signsgd",
        "adam_eps_in_sqrt",
    }
    assert required <= rules
    assert {("sgd", "coupled"), ("adam", "coupled"), ("adam", "decoupled")} <= covered
    assert {("sgd", "l2_loss"), ("adam", "l2_loss")} <= covered
    failing = {c.rule.name for c in CLAIMS.values() if c.expected == "fails"}
    assert {"adadelta", "radam", "radam_unrectified"} <= failing


def test_a_wrong_transform_is_reported_not_raised():
    rows, _ = check_symbolic([_entry(transformation="lr*alpha")])
    assert rows[0]["observed"] == "fails"
    assert rows[0]["verdict"] == "contradicted"
    assert rows[0]["max_rel_deviation"] > 0.5


def test_sign_invariance_needs_a_positive_alpha():
    """Lion's proof rests on alpha > 0: at alpha = -2 the two runs differ."""
    claim = CLAIMS["sym-lion-invariant"]
    theta = stages(claim.setup())[-1].quantities[0]
    values = sample_values(claim.rule)
    values[ALPHA] = sp.Integer(-2)
    assert sp.sign(sp.Symbol("a", real=True) * GRAD) != sp.sign(GRAD)
    assert (theta.scaled - theta.transformed).xreplace(values) != 0


def test_adadelta_admits_no_eps_only_transform():
    for cid in ("sym-adadelta-eps", "sym-adadelta-eps2"):
        claim = CLAIMS[cid]
        (solution,) = solve_first_difference(claim.setup(), "eps")
        assert GRAD in solution.free_symbols


def test_radam_first_steps_admit_no_eps_at_all():
    assert RAdamRho(hp_symbol("beta2"), sp.Integer(1)) == 1
    assert solve_first_difference(CLAIMS["sym-radam-unrectified-eps"].setup(), "eps") == []
    (solution,) = solve_first_difference(CLAIMS["sym-radam-rectified-lr"].setup(), "eps")
    assert state_symbol("v", True) in solution.free_symbols


def test_snippets_are_deterministic_latex(checked):
    _, snippets = checked
    subset = [e for e in RAW if e["id"] in ("sym-adam-eps", "sym-adadelta-eps", "sym-radam-eps")]
    _, again = check_symbolic(copy.deepcopy(subset))
    for cid, snippet in again.items():
        assert snippet == snippets[cid]
    for cid, snippet in snippets.items():
        assert {"title", "transformation", "update", "transformed", "difference"} <= set(snippet)
        assert all(isinstance(text, str) and text for text in snippet.values())
        assert not any("align" in text or "$" in text for text in snippet.values())
        assert ("base" in snippet) == CLAIMS[cid].rule.first_step
    assert "state" not in snippets["sym-sgd-plain-lr"]  # momentum 0: PyTorch keeps no buffer
    assert "state" not in snippets["sym-signsgd-invariant"]
    assert snippets["sym-adam-eps"]["state"] == (
        r"{m}^{+}_{\alpha} - \alpha\,{m}^{+} = 0,\quad {v}^{+}_{\alpha} - \alpha^{2}\,{v}^{+} = 0"
    )
    assert snippets["sym-adam-eps"]["transformation"] == r"\epsilon \mapsto \frac{\epsilon}{\alpha}"
    assert snippets["sym-radam-unrectified-eps"]["solution"] == r"\epsilon' \in \emptyset"


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"colour": "red"}, "colour"),
        ({"rule": "adamm"}, "rule"),
        ({"expected": "maybe"}, "expected"),
        ({"method": "float64 trajectory"}, "method"),
        ({"transformation": "beta3/alpha"}, "transformation"),
        ({"transformation": "eps/alpha^x"}, "transformation"),
        ({"decay": "sideways"}, "decay"),
        ({"rule": "rprop", "decay": "coupled", "transformation": "none"}, "decay"),
        ({"hyperparameters": {"momentum": 0}}, "hyperparameters"),
        ({"hyperparameters": {"eps": "1e-8"}}, "hyperparameters"),
        ({"solve_for": "lambda"}, "solve_for"),
        ({"optimizer": ""}, "optimizer"),
    ],
)
def test_validation_names_the_claim_and_the_key(overrides, key):
    with pytest.raises(SymbolicClaimError, match=rf"t-adam.*'{key}'"):
        check_symbolic([_entry(**overrides)])


def test_missing_keys_and_links_are_rejected():
    entry = _entry()
    del entry["rule"]
    with pytest.raises(SymbolicClaimError, match=r"t-adam.*'rule'.*missing"):
        check_symbolic([entry])
    counter = {"id": "t-c", "method": "symbolic", "transformation": "none", "expected": "fails"}
    with pytest.raises(SymbolicClaimError, match=r"t-c.*'counter_of'"):
        check_symbolic([_entry(), {**counter, "counter_of": "t-nothing"}])
    with pytest.raises(SymbolicClaimError, match=r"t-c.*'rule'.*unknown"):
        check_symbolic([_entry(), {**counter, "counter_of": "t-adam", "rule": "adam"}])
    with pytest.raises(SymbolicClaimError, match=r"t-c.*'counter_of'"):
        check_symbolic([_entry(), {**counter, "counter_of": "t-adam", "expected": "holds"}])
    with pytest.raises(SymbolicClaimError, match=r"t-adam.*'id'.*duplicated"):
        check_symbolic([_entry(), _entry()])


# --- the sympy rules reproduce torch.optim step by step ------------------------------------

_ADAM = {"lr": 0.01, "beta1": 0.9, "beta2": 0.99, "eps": 1e-3}
_RMS = {"lr": 0.01, "smoothing": 0.9, "eps": 1e-3}
_DECAY = {"weight_decay": 0.3}

#: (rule, decay, sympy hyperparameters, optimizer class, extra keyword arguments)
FIDELITY = [
    ("sgd", "none", {"lr": 0.1, "momentum": 0.9, "dampening": 0.2}, torch.optim.SGD, {}),
    (
        "sgd",
        "coupled",
        {"lr": 0.1, "momentum": 0.0, "dampening": 0.2, **_DECAY},
        torch.optim.SGD,
        {},
    ),
    (
        "sgd",
        "l2_loss",
        {"lr": 0.1, "momentum": 0.9, "dampening": 0.0, "lambda": 0.3},
        torch.optim.SGD,
        {},
    ),
    (
        "sgd_nesterov",
        "coupled",
        {"lr": 0.1, "momentum": 0.9, **_DECAY},
        torch.optim.SGD,
        {"nesterov": True},
    ),
    ("adam", "coupled", {**_ADAM, **_DECAY}, torch.optim.Adam, {}),
    ("adam", "decoupled", {**_ADAM, **_DECAY}, torch.optim.AdamW, {}),
    ("adam_amsgrad", "none", _ADAM, torch.optim.Adam, {"amsgrad": True}),
    ("nadam", "coupled", {**_ADAM, "momentum_decay": 0.05, **_DECAY}, torch.optim.NAdam, {}),
    (
        "nadam",
        "decoupled",
        {**_ADAM, "momentum_decay": 0.05, **_DECAY},
        torch.optim.NAdam,
        {"decoupled_weight_decay": True},
    ),
    ("radam", "none", {**_ADAM, "beta2": 0.9}, torch.optim.RAdam, {}),
    ("rmsprop", "coupled", {**_RMS, **_DECAY}, torch.optim.RMSprop, {}),
    ("rmsprop_centered", "none", _RMS, torch.optim.RMSprop, {"centered": True}),
    ("rmsprop_momentum", "none", {**_RMS, "momentum": 0.8}, torch.optim.RMSprop, {}),
    ("rmsprop_keras", "none", {**_RMS, "eps": 1e-5}, KerasRMSprop, {}),
    ("rmsprop_keras_centered", "none", {**_RMS, "eps": 1e-5}, KerasRMSprop, {"centered": True}),
    (
        "adagrad",
        "coupled",
        {"lr": 0.1, "lr_decay": 0.1, "eps": 1e-3, "initial_accumulator_value": 1e-4, **_DECAY},
        torch.optim.Adagrad,
        {},
    ),
    (
        "adagrad_keras",
        "none",
        {"lr": 0.1, "eps": 1e-5, "initial_accumulator_value": 1e-4},
        KerasAdagrad,
        {},
    ),
    ("adamax", "coupled", {**_ADAM, **_DECAY}, torch.optim.Adamax, {}),
    (
        "adadelta",
        "coupled",
        {"lr": 1.0, "rho": 0.9, "eps": 1e-4, **_DECAY},
        torch.optim.Adadelta,
        {},
    ),
    (
        "asgd",
        "coupled",
        {"lr": 0.1, "lambd": 0.1, "power": 0.75, "t0": 3.0, **_DECAY},
        torch.optim.ASGD,
        {},
    ),
    (
        "rprop",
        "none",
        {"lr": 0.01, "etaminus": 0.5, "etaplus": 1.2, "step_size_min": 1e-3, "step_size_max": 0.05},
        torch.optim.Rprop,
        {},
    ),
    ("lion", "decoupled", {"lr": 0.01, "beta1": 0.9, "beta2": 0.99, **_DECAY}, Lion, {}),
    ("signsgd", "none", {"lr": 0.01}, SignSGD, {}),
]

_PAIRS = {
    "betas": ("beta1", "beta2"),
    "etas": ("etaminus", "etaplus"),
    "step_sizes": ("step_size_min", "step_size_max"),
}


def _torch_kwargs(cls: type, hp: dict, extra: dict) -> dict:
    """Our hyperparameter names in the optimizer's spelling (torch calls two of them alpha)."""
    rename = {
        "smoothing": "rho" if cls is KerasRMSprop else "alpha",
        "power": "alpha",
        "lambda": "weight_decay",
    }
    paired = {name for pair in _PAIRS.values() for name in pair}
    kwargs = {rename.get(k, k): v for k, v in hp.items() if k not in paired}
    kwargs |= {key: (hp[a], hp[b]) for key, (a, b) in _PAIRS.items() if a in hp}
    return kwargs | extra


def _gradients(n: int = 14) -> list[float]:
    gen = torch.Generator().manual_seed(0)
    values = (torch.randn(n, generator=gen, dtype=torch.float64) * 1e-2).tolist()
    return [*values[:3], values[2], 0.0, *values[3:]]


def _torch_trajectory(cls, kwargs: dict, grads: list[float]) -> list[float]:
    """float64 throughout: torch keeps scalar state (NAdam's mu_product, ASGD's eta and mu)
    in the default dtype, float32 unless changed."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        p = torch.tensor([0.7], requires_grad=True)
        optimizer = cls([p], **kwargs)
        out = []
        for g in grads:
            p.grad = torch.tensor([g])
            optimizer.step()
            out.append(float(p.detach()[0]))
    finally:
        torch.set_default_dtype(default)
    return out


def _sympy_trajectory(rule_name: str, decay: str, hp: dict, grads: list[float]) -> list[float]:
    rule = RULES[rule_name]
    values = {name: sp.Float(value, 30) for name, value in hp.items()}
    state = {spec.name: spec.init(values) for spec in rule.states}
    theta: sp.Expr = sp.Float(0.7, 30)
    out = []
    for t, g in enumerate(grads, start=1):
        theta, state = apply_step(rule, decay, values, theta, sp.Float(g, 30), state, sp.Integer(t))
        out.append(float(theta))
    return out


@pytest.mark.parametrize(
    ("rule", "decay", "hp", "cls", "extra"), FIDELITY, ids=[f"{r[0]}-{r[1]}" for r in FIDELITY]
)
def test_sympy_rules_reproduce_torch_optimizers(rule, decay, hp, cls, extra):
    """The transcription is exact: 16 steps (sign changes, a zero gradient) match torch."""
    grads = _gradients()
    ours = _sympy_trajectory(rule, decay, hp, grads)
    theirs = _torch_trajectory(cls, _torch_kwargs(cls, hp, extra), grads)
    assert abs(theirs[-1] - 0.7) > 1e-5
    for a, b in zip(ours, theirs, strict=True):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-14)
