"""Stacked optimizers: each replica equals the real optimizer run alone on its slice.

The gradients are a fixed random sequence, scaled per replica like a loss scale, plus a
quadratic pull ``0.1 * theta`` so that they depend on the parameters; they are computed
element-wise, so a replica's gradient is the same bits stacked or alone and the tests
isolate the optimizer. Every replica must have the lone run's bits, in float64 and in
float32, whether a hyperparameter is shared (the stacked update then calls torch's
kernels with torch's scalars) or differs per replica (it multiplies by a broadcast
tensor holding the same scalar, computed by the same Python float formulas).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import partial

import pytest
import torch

from lossscale.models import Stack
from lossscale.optim import OPTIMIZERS
from lossscale.train.stacked_optim import (
    PER_REPLICA,
    PER_REPLICA_CLASSES,
    STACKED,
    PerReplicaOptimizer,
    StackedOptimizer,
    make_stacked_optimizer,
)

R = 4
SHAPES = [(R, 3, 5), (R, 1, 5), (R, 5), (R, 1, 1), (R,)]
STEPS = 30
SCALES = [1.0, 1e-6, 1e3, 37.5]  # per-replica loss scale alpha

#: The reference class of every stacked optimizer: the training stage's registry.
REFERENCE: dict[str, Callable[..., torch.optim.Optimizer]] = {
    name: OPTIMIZERS[name] for name in STACKED
}

# (optimizer, hyperparameters); lists are per replica, pairs may hold lists
CASES: list[tuple[str, dict]] = [
    ("sgd", {"lr": 0.1}),
    ("sgd", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}),
    ("sgd", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}),
    (
        "sgd",
        {
            "lr": [0.1, 1e4, 0.01, 0.2],
            "momentum": [0.9, 0.0, 0.5, 0.9],
            "dampening": 0.1,
            "weight_decay": [0.0, 1e-2, 1e-3, 0.0],
        },
    ),
    ("sgd", {"lr": [0.1, 0.01, 0.02, 0.03], "momentum": [0.9, 0.5, 0.8, 0.9], "nesterov": True}),
    ("adam", {}),
    ("adam", {"lr": 1e-2, "amsgrad": True, "weight_decay": 1e-2}),
    ("adam", {"lr": 1e-2, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    (
        "adam",
        {
            "lr": [1e-3, 1e-2, 1e2, 1e-3],
            "betas": ([0.9, 0.8, 0.9, 0.0], 0.999),
            "eps": [1e-8, 1e-14, 1e-3, 1e-8 / 37.5],
            "weight_decay": [0.0, 1e-2, 0.0, 1e-3],
            "decoupled_weight_decay": [False, True, False, True],
            "amsgrad": True,
        },
    ),
    ("adamw", {"lr": 1e-2}),
    ("adamw", {"lr": [1e-2, 1e-3, 1e-2, 1e-1], "weight_decay": [0.0, 0.1, 1e-2, 1.0]}),
    ("nadam", {"eps": 1e-7}),
    ("nadam", {"lr": 1e-2, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    (
        "nadam",
        {
            "lr": [2e-3, 1e-2, 2e3, 2e-3],
            "eps": [1e-7, 1e-13, 1e-7 / 37.5, 1e-8],
            "betas": (0.9, [0.999, 0.99, 0.999, 0.9]),
            "momentum_decay": [4e-3, 4e-3, 1e-2, 0.0],
            "weight_decay": [0.0, 1e-2, 1e-2, 0.0],
            "decoupled_weight_decay": [False, False, True, False],
        },
    ),
    ("radam", {"lr": 1e-2}),
    ("radam", {"lr": 1e-2, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    (
        "radam",
        {
            "lr": [1e-2, 1e-3, 1e-2, 1e-1],
            "betas": ([0.9, 0.5, 0.9, 0.9], [0.999, 0.9, 0.5, 0.99]),
            "eps": [1e-8, 1e-3, 1e-8, 1e-12],
            "weight_decay": [0.0, 1e-2, 1e-2, 0.0],
            "decoupled_weight_decay": [False, False, True, True],
        },
    ),
    ("adamax", {"weight_decay": 1e-2}),
    (
        "adamax",
        {
            "lr": [2e-3, 1e-2, 1.0, 2e-3],
            "eps": [1e-8, 1e-3, 1e-12, 1e-8],
            "betas": ([0.9, 0.5, 0.9, 0.8], 0.99),
        },
    ),
    ("rmsprop", {}),
    ("rmsprop", {"momentum": 0.9, "centered": True, "weight_decay": 1e-2}),
    (
        "rmsprop",
        {
            "lr": [1e-2, 1e-3, 1e-1, 1e-2],
            "alpha": [0.99, 0.9, 0.5, 0.99],
            "eps": [1e-8, 1e-3, 1e-14, 1e-8],
            "momentum": [0.0, 0.9, 0.5, 0.0],
            "weight_decay": [0.0, 0.0, 1e-2, 1e-3],
            "centered": True,
        },
    ),
    ("rmsprop", {"lr": [1e-2, 1e-3, 1e-1, 1e-2], "eps": [1e-8, 1e-3, 1e-14, 1e-8]}),
    ("adagrad", {}),
    ("adagrad", {"lr_decay": 0.01, "initial_accumulator_value": 0.1, "weight_decay": 1e-2}),
    (
        "adagrad",
        {
            "lr": [1e-2, 1e-1, 1e-2, 1.0],
            "lr_decay": [0.0, 0.01, 0.1, 0.0],
            "initial_accumulator_value": [0.0, 0.1, 1e-12, 1e6],
            "eps": [1e-10, 1e-3, 1e-20, 1e-10],
        },
    ),
    ("adadelta", {"weight_decay": 1e-2}),
    (
        "adadelta",
        {
            "lr": [1.0, 0.1, 10.0, 1.0],
            "rho": [0.9, 0.5, 0.99, 0.0],
            "eps": [1e-6, 1e-12, 1e-3, 1e-6],
        },
    ),
    ("asgd", {}),
    ("asgd", {"lr": 0.05, "lambd": 1e-2, "alpha": 0.5, "t0": 5.0, "weight_decay": 1e-2}),
    (
        "asgd",
        {
            "lr": [0.05, 0.01, 0.1, 0.05],
            "lambd": [1e-2, 1e-4, 0.0, 1e-1],
            "alpha": [0.5, 0.75, 1.0, 0.75],
            "t0": [5.0, 1e6, 10.0, 0.0],
            "weight_decay": [0.0, 1e-2, 0.0, 1e-3],
        },
    ),
    ("rprop", {}),
    (
        "rprop",
        {
            "lr": [1e-2, 1e-3, 1e-1, 1e-2],
            "etas": ([0.5, 0.3, 0.9, 0.5], [1.2, 1.5, 1.1, 2.0]),
            "step_sizes": ([1e-6, 1e-4, 1e-6, 0.0], [50.0, 1e-2, 0.05, 50.0]),
        },
    ),
    ("lion", {"lr": 1e-3, "weight_decay": 0.1}),
    (
        "lion",
        {
            "lr": [1e-3, 1e-4, 1e-2, 1e-3],
            "betas": ([0.9, 0.5, 0.9, 0.0], [0.99, 0.9, 0.0, 0.99]),
            "weight_decay": [0.0, 0.1, 1.0, 0.0],
        },
    ),
    ("signsgd", {"lr": 1e-3}),
    ("signsgd", {"lr": [1e-3, 1e-2, 1e-4, 1e-3], "momentum": [0.0, 0.9, 0.5, 0.0]}),
]


def _replica_hyper(hyper: dict, r: int) -> dict:
    """Replica r's scalar hyperparameters."""

    def entry(value):
        return value[r] if isinstance(value, list) else value

    return {k: tuple(map(entry, v)) if isinstance(v, tuple) else entry(v) for k, v in hyper.items()}


def _is_shared(hyper: dict) -> bool:
    values = [x for v in hyper.values() for x in (v if isinstance(v, tuple) else (v,))]
    return not any(isinstance(v, list) for v in values)


def _initial(dtype: torch.dtype) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(s, generator=gen, dtype=torch.float64).to(dtype) for s in SHAPES]


def _gradients(steps: int, dtype: torch.dtype) -> list[list[torch.Tensor]]:
    gen = torch.Generator().manual_seed(1)
    scale = torch.tensor(SCALES, dtype=torch.float64)
    return [
        [
            (
                torch.randn(s, generator=gen, dtype=torch.float64)
                * scale.view(-1, *[1] * (len(s) - 1))
            ).to(dtype)
            for s in SHAPES
        ]
        for _ in range(steps)
    ]


def _set_grads(params: list[torch.Tensor], noise: list[torch.Tensor]) -> None:
    for p, g in zip(params, noise, strict=True):
        p.grad = g + 0.1 * p.detach()


def _stacked_run(name: str, hyper: dict, steps: int, dtype=torch.float64, frozen=None):
    params = [p.clone().requires_grad_() for p in _initial(dtype)]
    opt = make_stacked_optimizer(name, Stack(params, R), hyper)
    for t, noise in enumerate(_gradients(steps, dtype)):
        _set_grads(params, noise)
        opt.step(frozen=None if frozen is None else frozen(t))
    return params, opt


def _solo_run(name: str, hyper: dict, r: int, steps: int, dtype=torch.float64):
    params = [p[r].clone().requires_grad_() for p in _initial(dtype)]
    kwargs = _replica_hyper(hyper, r)
    if name not in ("lion", "signsgd"):
        kwargs["foreach"] = False
    opt = REFERENCE[name](params, **kwargs)
    for noise in _gradients(steps, dtype):
        _set_grads(params, [g[r] for g in noise])
        opt.step()
    return params, opt


def _compare(stacked, solo, r: int) -> None:
    """Replica r of the stacked tensors has the solo tensors' bits (NaN where they have NaN)."""
    for a, b in zip(stacked, solo, strict=True):
        torch.testing.assert_close(a[r].detach(), b.detach(), rtol=0, atol=0, equal_nan=True)


def _case_id(case: tuple[str, dict]) -> str:
    name, hyper = case
    kind = "shared" if _is_shared(hyper) else "per-replica"
    return f"{name}-{kind}-{'-'.join(sorted(hyper)) or 'defaults'}"


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_replicas_equal_solo_runs_bit_for_bit(case, dtype):
    name, hyper = case
    params, opt = _stacked_run(name, hyper, STEPS, dtype)
    assert isinstance(opt, StackedOptimizer)
    for r in range(R):
        solo_params, solo_opt = _solo_run(name, hyper, r, STEPS, dtype)
        if dtype == torch.float64:
            assert torch.isfinite(solo_params[0]).all()
        _compare(params, solo_params, r)
        # and the state, by torch's names (a replica without momentum has no buffer)
        for key, tensors in opt.state.items():
            if key not in solo_opt.state[solo_params[0]]:
                continue
            _compare(tensors, [solo_opt.state[p][key] for p in solo_params], r)


@pytest.mark.parametrize("name", ["nadam", "asgd"])
def test_scalar_state_dtype_follows_the_default_dtype(name):
    """NAdam's mu_product and ASGD's eta and mu are float64 under a float64 default."""
    hyper = next(h for n, h in CASES if n == name and not _is_shared(h))
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        params, _ = _stacked_run(name, hyper, STEPS)
        for r in range(R):
            solo_params, _ = _solo_run(name, hyper, r, STEPS)
            _compare(params, solo_params, r)
    finally:
        torch.set_default_dtype(previous)


def test_equal_per_replica_values_act_as_one_shared_value():
    shared, _ = _stacked_run("adam", {"lr": 1e-2, "eps": 1e-6}, 10)
    listed, opt = _stacked_run(
        "adam", {"lr": [1e-2] * R, "eps": torch.full((R,), 1e-6, dtype=torch.float64)}, 10
    )
    assert opt.hyper["lr"] == 1e-2
    for a, b in zip(shared, listed, strict=True):
        assert torch.equal(a, b)


def test_per_replica_settings_change_the_trajectory():
    """Sanity check that per-replica values reach the update (not only the first one)."""
    params, _ = _stacked_run("adam", {"eps": [1e-8, 1e-8, 1e-8, 1e2]}, 10)
    same, _ = _stacked_run("adam", {"eps": 1e-8}, 10)
    assert torch.equal(params[0][:3], same[0][:3])
    assert not torch.allclose(params[0][3], same[0][3])


@pytest.mark.parametrize("name", sorted(STACKED))
def test_frozen_replicas_neither_move_nor_change_state(name):
    hyper = next(h for n, h in CASES if n == name and not _is_shared(h))
    mask = torch.tensor([False, True, False, True])
    frozen_from = 5

    def frozen(t: int) -> torch.Tensor | None:
        return mask if t >= frozen_from else None

    before, before_opt = _stacked_run(name, hyper, frozen_from)
    params, opt = _stacked_run(name, hyper, 12, frozen=frozen)
    free, free_opt = _stacked_run(name, hyper, 12)
    for r in range(R):
        # frozen replicas exactly where they were; the others as if nothing were frozen
        reference, reference_opt = (before, before_opt) if mask[r] else (free, free_opt)
        _compare(params, [p[r] for p in reference], r)
        for key, tensors in opt.state.items():
            _compare(tensors, [t[r] for t in reference_opt.state[key]], r)


@pytest.mark.parametrize("name", sorted(STACKED))
def test_state_dict_round_trip_resumes_bit_for_bit(name):
    hyper = next(h for n, h in CASES if n == name and not _is_shared(h))
    noise = _gradients(20, torch.float64)
    full = [p.clone().requires_grad_() for p in _initial(torch.float64)]
    opt = make_stacked_optimizer(name, Stack(full, R), hyper)
    for g in noise:
        _set_grads(full, g)
        opt.step()

    first = [p.clone().requires_grad_() for p in _initial(torch.float64)]
    opt = make_stacked_optimizer(name, Stack(first, R), hyper)
    for g in noise[:10]:
        _set_grads(first, g)
        opt.step()
    buffer = io.BytesIO()
    torch.save({"params": [p.detach() for p in first], "optim": opt.state_dict()}, buffer)
    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)

    resumed = [p.clone().requires_grad_() for p in checkpoint["params"]]
    fresh = make_stacked_optimizer(name, Stack(resumed, R), hyper)
    fresh.load_state_dict(checkpoint["optim"])
    assert fresh.step_count == 10
    for g in noise[10:]:
        _set_grads(resumed, g)
        fresh.step()
    for a, b in zip(resumed, full, strict=True):
        assert torch.equal(a, b)


def test_state_dict_hyperparameters_replace_the_current_ones():
    params = [p.clone().requires_grad_() for p in _initial(torch.float64)]
    saved = make_stacked_optimizer(
        "adam", Stack(params, R), {"lr": [1e-3, 1e-2, 1e-1, 1.0]}
    ).state_dict()
    other = make_stacked_optimizer("adam", Stack(params, R), {"lr": 0.5})
    other.load_state_dict(saved)
    assert other.hyper["lr"].tolist() == [1e-3, 1e-2, 1e-1, 1.0]
    with pytest.raises(ValueError, match="optimizer 'adam' does not match 'nadam'"):
        make_stacked_optimizer("nadam", Stack(params, R)).load_state_dict(saved)


@pytest.mark.parametrize(
    ("name", "hyper", "message"),
    [
        (
            "adam",
            {"lr": -1.0},
            r"lr: value -1.0 is not allowed; allowed: a finite float with 0 <= value",
        ),
        (
            "adam",
            {"lr": [1e-3, 1e-3, -1e-3, 1e-3]},
            r"lr: value -0.001 \(replica 2\) is not allowed",
        ),
        ("adam", {"eps": float("nan")}, r"eps: value nan is not allowed"),
        (
            "adam",
            {"betas": (0.9, 1.0)},
            r"betas\[1\]: value 1.0 is not allowed; allowed: .*0 <= value < 1",
        ),
        ("adam", {"betas": 0.9}, r"betas: value 0.9 is not allowed; allowed: a pair"),
        (
            "adam",
            {"momentum": 0.9},
            r"momentum: not a hyperparameter of adam; allowed: amsgrad, betas",
        ),
        ("adam", {"beta1": 0.9}, r"beta1: not a hyperparameter of adam"),
        (
            "adamw",
            {"decoupled_weight_decay": True},
            r"decoupled_weight_decay: not a hyperparameter",
        ),
        (
            "adam",
            {"lr": torch.ones(3)},
            r"lr: value of shape \(3,\) is not allowed; allowed: a float or 4",
        ),
        ("adam", {"lr": torch.ones(4, 1)}, r"lr: value of shape \(4, 1\) is not allowed"),
        ("adam", {"amsgrad": [True, False, True, False]}, r"amsgrad: value .* allowed: a bool$"),
        ("adam", {"amsgrad": 1}, r"amsgrad: value 1 is not allowed; allowed: a bool"),
        ("adam", {"lr": True}, r"lr: value True is not allowed; allowed: a float"),
        ("adam", {"lr": "fast"}, r"lr: value 'fast' is not allowed"),
        ("sgd", {"nesterov": True}, r"nesterov: value True is not allowed .* momentum > 0"),
        ("sgd", {"nesterov": True, "momentum": [0.9, 0.9, 0.0, 0.9]}, r"nesterov: value True"),
        (
            "rprop",
            {"etas": (1.5, 1.2)},
            r"etas\[0\]: value 1.5 is not allowed; allowed: .*0 < value < 1",
        ),
        (
            "lion",
            {"lr": 0.0},
            r"lr: value 0.0 is not allowed; allowed: a finite float with 0 < value",
        ),
        ("adadelta", {"rho": 1.5}, r"rho: value 1.5 is not allowed; allowed: .*0 <= value <= 1"),
        ("adamw", {"weight_decay": -0.1}, r"weight_decay: value -0.1 is not allowed"),
        ("shampoo", {}, r"optimizer: value 'shampoo' is not allowed; allowed: sgd, adam"),
    ],
)
def test_invalid_hyperparameters_are_rejected_with_a_clear_message(name, hyper, message):
    params = [p.clone().requires_grad_() for p in _initial(torch.float64)]
    with pytest.raises(ValueError, match=message):
        make_stacked_optimizer(name, Stack(params, R), hyper)


def test_invalid_parameters_and_masks_are_rejected():
    params = [p.clone().requires_grad_() for p in _initial(torch.float64)]
    with pytest.raises(
        ValueError, match=r"params\[0\]: shape \(4, 3, 5\) is not allowed; allowed: \[3, ...\]"
    ):
        make_stacked_optimizer("adam", Stack(params, 3))
    with pytest.raises(ValueError, match="dtype and device"):
        make_stacked_optimizer("adam", Stack([params[0], params[1].float()], R))
    opt = make_stacked_optimizer("adam", Stack(params, R))
    with pytest.raises(RuntimeError, match="no gradient"):
        opt.step()
    _set_grads(params, _gradients(1, torch.float64)[0])
    with pytest.raises(ValueError, match=r"frozen: .* allowed: 4 bools"):
        opt.step(frozen=torch.tensor([True, False]))
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in params)
    opt.zero_grad()
    assert all(p.grad is None for p in params)


def test_set_hyper_changes_the_learning_rate_between_steps():
    params = [p.clone().requires_grad_() for p in _initial(torch.float64)]
    opt = make_stacked_optimizer("sgd", Stack(params, R), {"lr": 0.1})
    opt.set_hyper(lr=[0.0, 0.0, 0.1, 0.1])
    start = [p.detach().clone() for p in params]
    _set_grads(params, _gradients(1, torch.float64)[0])
    opt.step()
    assert torch.equal(params[0][:2], start[0][:2])
    assert not torch.equal(params[0][2:], start[0][2:])
    with pytest.raises(ValueError, match=r"lr: value -1\.0"):
        opt.set_hyper(lr=-1.0)


# -- PerReplicaOptimizer -------------------------------------------------------------

MLP_SHAPES = [(R, 3, 4), (R, 1, 4), (R, 4, 1), (R, 1, 1)]


def _mlp_params() -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(2)
    return [torch.randn(s, generator=gen, dtype=torch.float64) * 0.5 for s in MLP_SHAPES]


def _mlp_data() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(16, 3, generator=gen, dtype=torch.float64)
    return x, torch.sin(x.sum(dim=1, keepdim=True))


def _mlp_loss(params: list[torch.Tensor], alpha: float) -> torch.Tensor:
    """One replica's (un-stacked) tanh MLP loss, times ``alpha``."""
    x, y = _mlp_data()
    w1, b1, w2, b2 = params
    return alpha * ((torch.tanh(x @ w1 + b1) @ w2 + b2 - y) ** 2).mean()


def _solo_closure(opt: torch.optim.Optimizer, params: list[torch.Tensor], alpha: float):
    opt.zero_grad()
    loss = _mlp_loss(params, alpha)
    loss.backward()
    return loss


PER_REPLICA_CASES = [
    (
        "lbfgs",
        {"lr": [1.0, 0.5, 1.0, 0.1], "tolerance_grad": [1e-7, 1e-7, 1e-13, 1e-7], "max_iter": 5},
    ),
    ("lbfgs", {"line_search_fn": "strong_wolfe", "history_size": 4, "max_iter": 4}),
    ("adafactor", {"lr": [1e-2, 1e-3, 1e-2, 1e-1], "eps": (None, [1e-3, 1e-3, 1e-6, 1e-3])}),
    ("muon", {"lr": [1e-2, 1e-3, 1e-2, 1e-1], "weight_decay": [0.1, 0.0, 0.1, 0.1]}),
]


@pytest.mark.parametrize(
    ("name", "hyper"),
    PER_REPLICA_CASES,
    ids=["lbfgs-per-replica", "lbfgs-strong-wolfe", "adafactor-per-replica", "muon-per-replica"],
)
def test_per_replica_optimizer_equals_solo_runs(name, hyper):
    steps = 5 if name == "lbfgs" else 10
    stacked = [p.clone().requires_grad_() for p in _mlp_params()]
    trained = stacked[:1] if name == "muon" else stacked  # Muon: the first-layer weight
    opt = PerReplicaOptimizer(name, trained, R, **hyper)

    def closure(r: int, params_r: list[torch.Tensor]) -> torch.Tensor:
        # the Muon case trains the first-layer weight only
        full = params_r if len(params_r) == 4 else [params_r[0], *(p[r] for p in stacked[1:])]
        loss = _mlp_loss(full, SCALES[r])
        loss.backward()
        return loss

    for _ in range(steps):
        if name == "lbfgs":
            losses = opt.step(closure)
            assert torch.isfinite(losses).all()
        else:
            opt.zero_grad()
            sum(_mlp_loss([p[r] for p in stacked], SCALES[r]) for r in range(R)).backward()
            opt.step()

    for r in range(R):
        solo = [p[r].clone().requires_grad_() for p in _mlp_params()]
        solo_opt = PER_REPLICA_CLASSES[name](
            solo[:1] if name == "muon" else solo, **_replica_hyper(hyper, r)
        )
        for _ in range(steps):
            if name == "lbfgs":
                solo_opt.step(partial(_solo_closure, solo_opt, solo, SCALES[r]))
            else:
                _solo_closure(solo_opt, solo, SCALES[r])
                solo_opt.step()
        for a, b in zip(stacked, solo, strict=True):
            assert torch.equal(a[r].detach(), b.detach())
    assert not torch.equal(stacked[0][0], _mlp_params()[0][0])


def test_per_replica_frozen_state_dict_and_errors():
    stacked = [p.clone().requires_grad_() for p in _mlp_params()]
    opt = PerReplicaOptimizer("adafactor", stacked, R, lr=1e-2)
    sum(_mlp_loss([p[r] for p in stacked], 1.0) for r in range(R)).backward()
    start = [p.detach().clone() for p in stacked]
    opt.step(frozen=torch.tensor([True, False, False, True]))
    assert torch.equal(stacked[0][0], start[0][0]) and torch.equal(stacked[0][3], start[0][3])
    assert not torch.equal(stacked[0][1], start[0][1])
    saved = opt.state_dict()
    other = PerReplicaOptimizer("adafactor", stacked, R, lr=0.5)
    other.load_state_dict(saved)
    assert other.optimizers[1].param_groups[0]["lr"] == 1e-2
    assert set(PER_REPLICA) == {"lbfgs", "adafactor", "muon"}

    with pytest.raises(
        ValueError, match=r"params\[1\]: Muon updates 2-D weight matrices only.*\(5,\)"
    ):
        PerReplicaOptimizer("muon", [stacked[0], torch.zeros(R, 5)], R)
    with pytest.raises(ValueError, match=r"Muon updates 2-D .* \(2, 3, 4\)"):
        PerReplicaOptimizer("muon", [torch.zeros(R, 2, 3, 4)], R)
    with pytest.raises(ValueError, match="momentum: not a hyperparameter of LBFGS"):
        PerReplicaOptimizer("lbfgs", stacked, R, momentum=0.9)
    with pytest.raises(ValueError, match=r"lr: value .* allowed: a scalar, or 4 values"):
        PerReplicaOptimizer("lbfgs", stacked, R, lr=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"Adafactor, replica 2: .*"):
        PerReplicaOptimizer("adafactor", stacked, R, lr=[1e-2, 1e-2, -1.0, 1e-2])
    with pytest.raises(ValueError, match=r"LBFGS re-evaluates the loss: call step\(closure\)"):
        PerReplicaOptimizer("lbfgs", stacked, R).step()
    with pytest.raises(ValueError, match="optimizer: value 'bfgs' is not allowed"):
        PerReplicaOptimizer("bfgs", stacked, R)
    with pytest.raises(ValueError, match=r"views: 1 entries; allowed: 4"):
        PerReplicaOptimizer("adafactor", stacked, R, views=[lambda t: t])
    with pytest.raises(ValueError, match="'muon' is not allowed for a model without hidden"):
        make_stacked_optimizer("muon", Stack(stacked, R))
