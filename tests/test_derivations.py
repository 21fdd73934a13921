"""The derivations stage: each claim's check, its power, the ledger and its outputs."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import sys
import types

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
    load_ledger,
    run_derivations,
)
from lossscale.derivations.checks import problem_for
from lossscale.derivations.claims import default_claims_dir
from lossscale.derivations.ledger import order_rows
from lossscale.derivations.problems import make_problem
from lossscale.derivations.trajectories import (
    TORCH_CLIP_EPS,
    Training,
    clip_by_norm,
    gradient_rms,
    max_rel_deviation,
)
from lossscale.derivations.transforms import Term, parse_transformation, transform
from lossscale.exact import is_power_of_two

STEPS = 20
TOL = 1e-9
F32_TOL = 1e-4
CLAIMS = load_claims()
BY_ID = {c.id: c for c in CLAIMS}
SYMBOLIC = "lossscale.derivations.symbolic"


def _few_alphas(claim):
    """The claim at its smallest and largest alphas and first bitwise alpha: a quick case."""
    alphas = (claim.alphas[0], claim.alphas[-1]) if claim.alphas else ()
    return dataclasses.replace(
        claim, alphas=tuple(dict.fromkeys(alphas)), bitwise=claim.bitwise[:1]
    )


def _entry(**change):
    entry = {
        "id": "bad-claim",
        "optimizer": "Adam",
        "transformation": "eps/alpha",
        "alphas": [10],
        "target_scale": 1.0,
        "expected": "holds",
    }
    return {**entry, **change}


def _write_ledger(tmp_path, *entries, name="claims.yaml"):
    directory = tmp_path / "claims"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(yaml.safe_dump({"claims": list(entries)}))
    return directory


@pytest.fixture(autouse=True)
def _restore_torch_settings():
    """run_derivations sets global torch state; give it back after each test."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic)


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: c.id)
def test_each_claim_observed_as_expected(claim):
    quick = _few_alphas(claim)
    results = check_claim(quick, STEPS, TOL, F32_TOL)  # or the claim's min_steps
    assert [r.alpha for r in results] == [*quick.alphas, *quick.bitwise]
    for r in results:
        assert r.observed == claim.expected, r.describe()
        assert r.verdict == "confirmed"


@pytest.mark.parametrize("claim", [c for c in CLAIMS if c.expected == "holds"], ids=lambda c: c.id)
def test_holding_claims_are_not_vacuous(claim):
    """Both runs move far beyond the tolerance, and a counter-check guards the claim."""
    assert any(c.counter_of == claim.id for c in CLAIMS), f"{claim.id} has no counter-check"
    for r in check_claim(_few_alphas(claim), STEPS, TOL, F32_TOL):
        assert r.displacement > 1e3 * TOL, r.describe()


def test_counter_checks_differ_where_their_claims_hold():
    counter = dataclasses.replace(_few_alphas(BY_ID["adam-eps-counter"]), bitwise=())
    claim = dataclasses.replace(_few_alphas(BY_ID["adam-eps"]), bitwise=())
    cache = {}
    exact = check_claim(claim, STEPS, TOL, F32_TOL, cache)
    shared = len(cache)
    wrong = check_claim(counter, STEPS, TOL, F32_TOL, cache)
    assert len(cache) == shared, "a counter-check reuses its claim's scaled runs"
    for good, bad in zip(exact, wrong, strict=True):
        assert good.max_rel_deviation < 1e-14
        assert bad.max_rel_deviation > 1e-2  # at the eps knee eps changes the step by ~2x


def test_scaled_gradient_rms_puts_each_alpha_at_the_knee():
    claim = BY_ID["adam-eps"]
    for alpha in claim.alphas:
        problem = problem_for(claim, alpha, torch.float64)
        rms = gradient_rms(problem, problem.initial_parameters(0))
        assert alpha * rms == pytest.approx(claim.scaled_gradient_rms, rel=1e-9)


def test_bitwise_power_of_two_is_exact_and_other_alphas_report_round_off():
    claim = dataclasses.replace(BY_ID["adam-eps"], alphas=(), bitwise=(2.0**-10, 2.0**21, 1000.0))
    exact_low, exact_high, roundoff = check_claim(claim, STEPS, TOL, F32_TOL)
    for r in (exact_low, exact_high):
        assert (r.method, r.tolerance, r.max_rel_deviation) == ("bitwise", 0.0, 0.0)
    assert 0.0 < roundoff.max_rel_deviation < F32_TOL == roundoff.tolerance
    untransformed = dataclasses.replace(claim, transformation="none", expected="fails")
    for r in check_claim(untransformed, STEPS, TOL, F32_TOL):
        assert r.observed == "fails", r.describe()


def test_powers_of_two():
    assert [is_power_of_two(a) for a in (2.0**-30, 1.0, 2048.0, 2.0**60)] == [True] * 4
    assert [is_power_of_two(a) for a in (1000.0, 3.0, 0.1, 1e-6)] == [False] * 4


def test_every_claim_is_checked_once_per_alpha_and_method(tmp_path):
    entries = [
        _entry(id="adam-eps", alphas=[10], bitwise=[2048]),
        {"id": "adam-eps-none", "counter_of": "adam-eps", "transformation": "none"}
        | {"expected": "fails"},
    ]
    table = run_derivations(tmp_path / "c.csv", 5, TOL, 1, _write_ledger(tmp_path, *entries))
    assert list(table.columns) == COLUMNS
    keys = list(zip(table["claim_id"], table["method"], table["alpha"], strict=True))
    expected = [
        ("adam-eps", "float64 trajectory", 10.0),
        ("adam-eps-none", "float64 trajectory", 10.0),
    ]
    assert keys == [*expected, ("adam-eps", "bitwise", 2048.0)]


def test_flipped_expectation_raises_names_the_claim_and_writes_nothing(tmp_path):
    ledger = _write_ledger(tmp_path, _entry(id="adam-eps", expected="fails", target_scale=1.0e-5))
    outputs = [tmp_path / name for name in ("claims.csv", "symbolic.json", "ledger.json")]
    with pytest.raises(ClaimContradictedError) as err:
        run_derivations(outputs[0], STEPS, TOL, 1, ledger, *outputs[1:])
    message = str(err.value)
    assert "adam-eps (alpha=10, float64 trajectory)" in message
    assert "observed holds, expected fails" in message
    assert [r["claim_id"] for r in err.value.contradicted] == ["adam-eps"]
    assert not any(p.exists() for p in outputs)


def test_outputs_are_byte_identical_for_any_number_of_workers(tmp_path):
    claims = [c for c in CLAIMS if c.family in ("sgd-lr", "lion-invariant", "radam-eps")]
    entries = yaml.safe_load((default_claims_dir() / "trajectory.yaml").read_text())["claims"]
    picked = [e for e in entries if e["id"] in {c.id for c in claims}]
    for e in picked:
        if "alphas" in e:
            e["alphas"] = e["alphas"][:2]
        e.pop("bitwise", None)
    ledger = _write_ledger(tmp_path, *picked)
    paths = {}
    for workers in (1, 2):
        paths[workers] = [tmp_path / f"{workers}{n}" for n in ("claims.csv", "s.json", "l.json")]
        run_derivations(paths[workers][0], 5, TOL, 1, ledger, *paths[workers][1:], workers=workers)
    for one, two in zip(paths[1], paths[2], strict=True):
        assert one.read_bytes() == two.read_bytes()
    table = pd.read_csv(paths[1][0])
    assert list(table.columns) == COLUMNS
    assert (table["verdict"] == "confirmed").all()
    summary = json.loads(paths[1][2].read_text())
    assert summary["sgd-lr-counter"]["counter_of"] == "sgd-lr"
    assert summary["sgd-lr"] == {"counter_of": None, "note": BY_ID["sgd-lr"].note}
    assert json.loads(paths[1][1].read_text()) == {}


def _fake_check_symbolic(claims, verdict):
    """Stands in for lossscale.derivations.symbolic.check_symbolic (module level: picklable)."""
    rows = [
        dict.fromkeys(COLUMNS, "x")
        | {"claim_id": c["id"], "optimizer": "Adam", "method": "symbolic", "alpha": math.nan}
        | {"expected": c["expected"], "max_rel_deviation": 0.0, "tolerance": 0.0}
        | {"verdict": verdict}
        for c in claims
    ]
    return rows, {c["id"]: {"latex": "0 = 0"} for c in claims}


def _fake_symbolic(monkeypatch, verdict="confirmed"):
    module = types.ModuleType(SYMBOLIC)
    module.check_symbolic = functools.partial(_fake_check_symbolic, verdict=verdict)
    monkeypatch.setitem(sys.modules, SYMBOLIC, module)


def test_symbolic_entries_go_to_the_symbolic_module(tmp_path, monkeypatch):
    _fake_symbolic(monkeypatch)
    ledger = _write_ledger(tmp_path, {"id": "sym-adam", "method": "symbolic", "expected": "holds"})
    _write_ledger(
        tmp_path, _entry(id="sgd", optimizer="SGD", transformation="lr*alpha"), name="t.yaml"
    )
    out, snippets = tmp_path / "claims.csv", tmp_path / "symbolic.json"
    run_derivations(out, 5, TOL, 1, ledger, snippets, workers=2)
    table = pd.read_csv(out)
    assert list(table["claim_id"]) == ["sgd", "sym-adam"]
    assert list(table["method"]) == ["float64 trajectory", "symbolic"]
    assert json.loads(snippets.read_text()) == {"sym-adam": {"latex": "0 = 0"}}


def test_contradicted_symbolic_rows_fail_the_stage(tmp_path, monkeypatch):
    _fake_symbolic(monkeypatch, verdict="contradicted")
    ledger = _write_ledger(tmp_path, {"id": "sym-adam", "method": "symbolic", "expected": "holds"})
    with pytest.raises(ClaimContradictedError, match="sym-adam"):
        run_derivations(tmp_path / "claims.csv", 5, TOL, 1, ledger)


def test_symbolic_entries_without_the_symbolic_module_are_an_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, SYMBOLIC, None)
    ledger = _write_ledger(tmp_path, {"id": "sym-adam", "method": "symbolic", "expected": "holds"})
    with pytest.raises(RuntimeError, match=r"symbolic claim\(s\) \(sym-adam\) need"):
        run_derivations(tmp_path / "claims.csv", 5, TOL, 1, ledger)
    numeric_only = _write_ledger(tmp_path / "n", _entry(transformation="none", expected="fails"))
    run_derivations(tmp_path / "claims.csv", 5, TOL, 1, numeric_only)  # no symbolic work


def test_the_packaged_ledger_loads_every_file():
    ledger = load_ledger()
    files = sorted(default_claims_dir().glob("*.yaml"))
    assert load_ledger([str(f) for f in files]) == ledger  # as the rule passes them
    assert {c.id for c in ledger.claims} == set(BY_ID)
    assert all(e["method"] == "symbolic" for e in ledger.symbolic)
    optimizers = {c.optimizer for c in ledger.claims}
    shipped = {"SGD", "ASGD", "Adam", "AdamW", "NAdam", "RAdam", "Adamax", "RMSprop"}
    shipped |= {"Adagrad", "Adadelta", "Rprop", "LBFGS", "Adafactor", "Muon"}
    assert shipped | {"Lion", "signSGD", "KerasRMSprop", "KerasAdagrad"} <= optimizers


def test_rows_are_grouped_by_optimizer_then_method():
    rows = [
        {"optimizer": "SGD", "method": "bitwise", "claim_id": "a"},
        {"optimizer": "Adam", "method": "float64 trajectory", "claim_id": "b"},
        {"optimizer": "SGD", "method": "float64 trajectory", "claim_id": "c"},
        {"optimizer": "Adam", "method": "symbolic", "claim_id": "d"},
    ]
    assert [r["claim_id"] for r in order_rows(rows)] == ["c", "a", "d", "b"]


def test_transformation_parsing():
    assert parse_transformation("none") == ()
    assert parse_transformation("eps/alpha, initial_accumulator_value/alpha^2") == (
        Term("eps", "/"),
        Term("initial_accumulator_value", "/", 2),
    )
    assert parse_transformation("eps[0]*alpha, loss=focal") == (
        Term("eps", "*", index=0),
        Term("loss", "=", value="focal"),
    )
    with pytest.raises(ValueError, match="not of the form"):
        parse_transformation("eps/beta")
    with pytest.raises(ValueError, match="names a setting twice"):
        parse_transformation("eps/alpha, eps*alpha")


def test_transformation_application():
    hp, training = transform(
        torch.optim.Adagrad, {"lr": 0.1}, Training(l2=0.5), "eps/alpha, lr*alpha^2, l2/alpha", 4.0
    )
    assert hp == {"lr": 1.6, "eps": 1e-10 / 4.0}
    assert training == Training(l2=0.125)
    hp, _ = transform(
        torch.optim.Adafactor, {"eps": (1.0, 1e-3)}, Training(), "eps[0]/alpha^2", 2.0
    )
    assert hp == {"eps": (0.25, 1e-3)}
    _, training = transform(torch.optim.SGD, {}, Training(loss="ce"), "loss=focal", 2.0)
    assert training.loss == "focal"
    with pytest.raises(ValueError, match="not a number"):
        transform(torch.optim.SGD, {}, Training(), "clip_grad_norm/alpha", 2.0)


def test_max_rel_deviation_definition():
    b = torch.tensor([[1.0, -2.0], [2.0, 4.0]], dtype=torch.float64)
    a = b + torch.tensor([[0.0, 0.0], [0.4, -0.1]], dtype=torch.float64)
    assert max_rel_deviation(a, b) == pytest.approx(0.1)
    a[1, 0] = float("nan")
    assert max_rel_deviation(a, b) == float("inf")


def test_problem_gradients_scale_as_target_scale_squared():
    unit, tiny = make_problem("regression", 1.0), make_problem("regression", 1e-5)
    params = unit.initial_parameters(0)
    assert torch.equal(params[0], tiny.initial_parameters(0)[0])
    assert tiny.loss(params).item() == pytest.approx(1e-10 * unit.loss(params).item(), rel=1e-12)
    assert [p.dim() for p in make_problem("regression-nobias").initial_parameters(0)] == [2, 2]


def test_weighted_and_focal_losses_are_not_scalings_of_cross_entropy():
    problem = make_problem("classification")
    params = [p.requires_grad_(True) for p in problem.initial_parameters(0)]
    grads = {}
    for kind in ("ce", "class_weighted_ce", "focal"):
        grads[kind] = torch.cat(
            [g.reshape(-1) for g in torch.autograd.grad(problem.loss(params, kind), params)]
        )
    for kind in ("class_weighted_ce", "focal"):
        cosine = torch.nn.functional.cosine_similarity(grads[kind], grads["ce"], dim=0)
        assert cosine < 1 - 1e-3, kind  # not parallel: no alpha maps one onto the other
    assert problem.loss(params, "focal") < problem.loss(params, "ce")
    assert torch.bincount(problem.y).tolist() == [32, 21, 11]


def test_clip_by_norm_is_torchs_formula():
    torch.manual_seed(0)
    grads = [torch.randn(5, 3, dtype=torch.float64), torch.randn(4, dtype=torch.float64)]
    params = [torch.zeros_like(g, requires_grad=True) for g in grads]
    for p, g in zip(params, grads, strict=True):
        p.grad = g.clone()
    torch.nn.utils.clip_grad_norm_(params, 0.5)
    ours = [g.clone() for g in grads]
    clip_by_norm(ours, 0.5, TORCH_CLIP_EPS)
    assert all(torch.equal(p.grad, g) for p, g in zip(params, ours, strict=True))


def test_float32_state_of_asgd_is_why_runs_use_the_trajectory_dtype():
    """ASGD keeps eta in the default dtype: the check runs with float64 as the default."""
    claim = BY_ID["asgd-lr-lambd"]
    (result,) = check_claim(
        dataclasses.replace(claim, alphas=(10.0,), bitwise=()), STEPS, TOL, F32_TOL
    )
    assert result.max_rel_deviation < 1e-14
    assert torch.get_default_dtype() == torch.float32  # restored afterwards


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        (_entry(optimizer="Adamm"), "not in torch.optim or lossscale.optim"),
        (_entry(expected="maybe"), "expected 'maybe'"),
        (_entry(transformation="eps/alpha^"), "not of the form"),
        (_entry(hyperparameters={"epsilon": 1.0e-8}), "no hyperparameters ['epsilon']"),
        (_entry(hyperparameters={"eps": -1.0}), "Invalid epsilon value"),
        (_entry(alphas=[-1]), "not a finite number > 0"),
        (_entry(alphas=["1e-3"]), "is text"),
        (_entry(hyperparameters={"eps": "1e-7"}), "are text"),
        (_entry(training={"l2": "1e-3"}), "is text"),
        (_entry(training={"clip": 1.0}), "training has no settings ['clip']"),
        (_entry(training={"loss": "focal"}), "loss 'focal' is not one of"),
        (_entry(transformation="loss=hinge", problem="classification", target_scale=None), "hinge"),
        (_entry(problem="classification"), "neither for the classification problem"),
        (_entry(scaled_gradient_rms=1.0e-8), "at most one of target_scale"),
        (_entry(alphas=None), "give alphas, bitwise alphas or both"),
        (_entry(method="bitwise"), "bitwise checks are a claim's `bitwise:` alphas"),
        (_entry(colour="blue"), "unknown keys ['colour']"),
        (_entry(min_steps=0.5), "min_steps: 0.5 is not a whole number >= 1"),
    ],
)
def test_malformed_claims_are_rejected_with_the_claim_named(tmp_path, entry, fragment):
    entry = {k: v for k, v in entry.items() if v is not None}
    with pytest.raises(ClaimsFileError) as err:
        load_claims(_write_ledger(tmp_path, entry))
    assert "bad-claim" in str(err.value)
    assert fragment in str(err.value)


@pytest.mark.parametrize(
    ("counter", "fragment"),
    [
        ({"counter_of": "nothing"}, "counter_of 'nothing' is not a claim"),
        ({"expected": "holds"}, "a counter-check expects fails"),
        ({"optimizer": "SGD"}, "unknown keys ['optimizer']"),
    ],
)
def test_malformed_counter_checks_are_rejected(tmp_path, counter, fragment):
    entry = {"id": "bad-claim", "counter_of": "adam", "transformation": "none", "expected": "fails"}
    ledger = _write_ledger(tmp_path, _entry(id="adam"), entry | counter)
    with pytest.raises(ClaimsFileError, match="bad-claim") as err:
        load_claims(ledger)
    assert fragment in str(err.value)


def test_ids_are_unique_across_files_and_symbolic_entries_need_an_expectation(tmp_path):
    ledger = _write_ledger(tmp_path, _entry(id="same"))
    _write_ledger(
        tmp_path, {"id": "same", "method": "symbolic", "expected": "holds"}, name="s.yaml"
    )
    with pytest.raises(ClaimsFileError, match=r"duplicated claim ids \['same'\]"):
        load_ledger(ledger)
    _write_ledger(tmp_path, {"id": "sym", "method": "symbolic"}, name="s.yaml")
    with pytest.raises(ClaimsFileError, match="claim sym: expected None"):
        load_ledger(ledger)
    _write_ledger(tmp_path, {"id": 3, "method": "symbolic", "expected": "holds"}, name="s.yaml")
    with pytest.raises(ClaimsFileError, match=r"s.yaml: claims\[0\]: id 3 is not a name"):
        load_ledger(ledger)
