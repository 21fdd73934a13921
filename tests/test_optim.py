"""The package's optimizers against steps computed by hand, and the optimizer registry."""

from __future__ import annotations

import math

import pytest
import torch

from lossscale.optim import (
    OPTIMIZERS,
    KerasAdagrad,
    KerasRMSprop,
    Lion,
    SignSGD,
    make_optimizer,
    optimizer_class,
)


def _param(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64, requires_grad=True)


def _step(opt: torch.optim.Optimizer, p: torch.Tensor, *grad: float) -> list[float]:
    p.grad = torch.tensor(grad, dtype=torch.float64)
    opt.step()
    return p.detach().tolist()


def test_lion_two_steps_by_hand():
    p = _param(1.0, -2.0, 0.5)
    opt = Lion([p], lr=0.1, betas=(0.9, 0.99), weight_decay=0.5)
    # step 1: m = 0, so c = 0.1 g and sign(c) = sign(g); decay multiplies by 1 - 0.1 * 0.5
    assert _step(opt, p, 0.3, -4.0, 0.0) == pytest.approx([0.95 - 0.1, -1.9 + 0.1, 0.475])
    # m = 0.01 g1 = (0.003, -0.04, 0); c = 0.9 m + 0.1 g2 with g2 = (-0.02, 0.3, 1)
    # = (0.0027 - 0.002, -0.036 + 0.03, 0.1): signs (+, -, +) although g2 is (-, +, +)
    expected = [0.85 * 0.95 - 0.1, -1.8 * 0.95 + 0.1, 0.475 * 0.95 - 0.1]
    assert _step(opt, p, -0.02, 0.3, 1.0) == pytest.approx(expected)
    m = opt.state[p]["exp_avg"].tolist()
    assert m == pytest.approx([0.99 * 0.003 - 0.0002, 0.99 * -0.04 + 0.003, 0.01])


def test_signsgd_and_signum_by_hand():
    p = _param(1.0, 1.0)
    opt = SignSGD([p], lr=0.25)
    assert _step(opt, p, 3.0, -1e-30) == [0.75, 1.25]
    assert _step(opt, p, 0.0, 2.0) == [0.75, 1.0]  # sign(0) = 0: no step
    q = _param(0.0)
    signum = SignSGD([q], lr=1.0, momentum=0.5)
    assert _step(signum, q, 4.0) == [-1.0]  # m = 2
    assert _step(signum, q, -1.0) == [-2.0]  # m = 1 - 0.5 = 0.5 > 0 although g < 0
    assert signum.state[q]["momentum_buffer"].item() == 0.5


@pytest.mark.parametrize("cls", [Lion, SignSGD])
def test_sign_optimizers_ignore_the_gradient_scale_bit_for_bit(cls):
    torch.manual_seed(0)
    grads = [torch.randn(6, dtype=torch.float64) for _ in range(5)]
    runs = []
    for scale in (1.0, 1e8, 3e-9):
        p = _param(*[0.5] * 6)
        opt = cls([p], lr=0.01)
        runs.append([_step(opt, p, *(scale * g).tolist()) for g in grads])
    assert runs[0] == runs[1] == runs[2]


def test_keras_rmsprop_puts_eps_inside_the_root():
    p = _param(1.0, -1.0)
    opt = KerasRMSprop([p], lr=0.1, rho=0.9, eps=1e-2)
    v = [0.1 * 0.4**2, 0.1 * 3.0**2]
    expected = [
        1.0 - 0.1 * 0.4 / math.sqrt(v[0] + 1e-2),
        -1.0 - 0.1 * -3.0 / math.sqrt(v[1] + 1e-2),
    ]
    assert _step(opt, p, 0.4, -3.0) == pytest.approx(expected, rel=1e-15)
    v2 = 0.9 * v[0] + 0.1 * 0.2**2
    expected_second = expected[0] - 0.1 * 0.2 / math.sqrt(v2 + 1e-2)
    assert _step(opt, p, 0.2, 0.0)[0] == pytest.approx(expected_second, rel=1e-15)


def test_keras_rmsprop_centered_with_momentum():
    p = _param(0.0)
    opt = KerasRMSprop([p], lr=1.0, rho=0.5, momentum=0.5, eps=0.0, centered=True)
    # v = 0.5 * 4 = 2, mean g = 1, variance 2 - 1 = 1: increment 2 / 1; b = 2
    assert _step(opt, p, 2.0) == pytest.approx([-2.0])
    # v = 1 + 0.5 * 4 = 3, mean = 0.5 + 1 = 1.5, variance 0.75; b = 0.5 * 2 + 2 / sqrt(0.75)
    assert _step(opt, p, 2.0) == pytest.approx([-2.0 - (1.0 + 2.0 / math.sqrt(0.75))])


def test_keras_adagrad_accumulates_from_its_initial_value():
    p = _param(1.0)
    opt = KerasAdagrad([p], lr=0.5, initial_accumulator_value=0.1, eps=1e-3)
    first = 1.0 - 0.5 * 2.0 / math.sqrt(0.1 + 4.0 + 1e-3)
    assert _step(opt, p, 2.0) == pytest.approx([first], rel=1e-15)
    second = first - 0.5 * -1.0 / math.sqrt(0.1 + 4.0 + 1.0 + 1e-3)
    assert _step(opt, p, -1.0) == pytest.approx([second], rel=1e-15)


@pytest.mark.parametrize(
    ("cls", "bad"),
    [
        (Lion, {"lr": 0.0}),
        (Lion, {"betas": (0.9, 1.0)}),
        (Lion, {"weight_decay": -1.0}),
        (SignSGD, {"momentum": 1.0}),
        (KerasRMSprop, {"eps": -1.0}),
        (KerasAdagrad, {"initial_accumulator_value": -0.1}),
    ],
)
def test_invalid_hyperparameters_are_rejected(cls, bad):
    with pytest.raises(ValueError):
        cls([_param(1.0)], **bad)


def test_optimizer_classes_by_name():
    assert optimizer_class("Adam") is torch.optim.Adam
    assert optimizer_class("Muon") is torch.optim.Muon
    assert optimizer_class("signSGD") is SignSGD
    assert optimizer_class("Lion") is Lion
    assert optimizer_class("Optimizer") is None  # the base class is no optimizer
    assert optimizer_class("lr_scheduler") is None
    assert optimizer_class("Adamm") is None


def test_registry_builds_every_optimizer_of_the_training_grid():
    from lossscale.train.stacked_optim import PER_REPLICA, STACKED

    assert set(OPTIMIZERS) == set(STACKED) | set(PER_REPLICA)
    opt = make_optimizer("nadam", [_param(1.0)], {"lr": 0.1, "eps": 1e-7})
    assert isinstance(opt, torch.optim.NAdam)
    with pytest.raises(ValueError, match="optimizer: value 'keras' is not allowed; allowed: sgd"):
        make_optimizer("keras", [_param(1.0)], {})
