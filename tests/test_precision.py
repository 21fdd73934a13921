"""Precision of a training cell: autocast, underflow, and per-replica loss scaling."""

from __future__ import annotations

import pytest
import torch

from lossscale.tasks import make_task
from lossscale.train.engine import train_stacked
from lossscale.train.precision import PRECISIONS, StackedGradScaler, precision

ADAM = {"lr": 1e-3, "eps": 1e-8}


@pytest.fixture(scope="module")
def tiny_float32():
    settings = {"target_scale": 1e-4, "hidden": [8, 8], "test_fraction": 0.25, "split_seed": 0,
                "activation": "tanh", "scale_output": True}  # fmt: skip
    return make_task("diabetes", settings, torch.float32, "cpu")


def zero_fraction(task, name: str, alpha: float = 1.0) -> float:
    history = train_stacked(task, [0], [alpha], "adam", ADAM, 0, precision=PRECISIONS[name])
    return float(history.columns["grad_zero_frac"][0, 0])


def test_float16_gradients_underflow_and_loss_scaling_rescues_them(tiny_float32):
    fractions = {name: zero_fraction(tiny_float32, name) for name in PRECISIONS}
    assert fractions["float32"] < 0.01 and fractions["float64"] < 0.01
    assert fractions["bfloat16"] < 0.05, "bfloat16 has float32's range: no underflow"
    assert fractions["float16"] > 0.9, "gradients below 2^-24 are zero in float16"
    assert fractions["float16_scaled"] < 0.05, fractions
    # loss x alpha is loss scaling: a large alpha rescues float16 as the scaler does
    assert zero_fraction(tiny_float32, "float16", alpha=2.0**16) < 0.05


def test_autocast_changes_the_numbers_but_not_the_parameter_dtype(tiny_float32):
    runs = {
        name: train_stacked(tiny_float32, [0], [1e4], "adam", ADAM, 5, precision=PRECISIONS[name])
        for name in ("float32", "bfloat16")
    }
    assert all(p.dtype == torch.float32 for p in runs["bfloat16"].params)
    a, b = (runs[n].columns["train_loss"][-1, 0] for n in ("float32", "bfloat16"))
    assert a != b and abs(a - b) < 0.1 * abs(a)


def test_scaler_unscales_per_replica_and_skips_overflow():
    scaler = StackedGradScaler(3, init_scale=4.0, growth_interval=2)
    p = torch.zeros(3, 2, requires_grad=True)
    p.grad = torch.tensor([[4.0, 8.0], [float("inf"), 1.0], [2.0, 2.0]])
    found = scaler.unscale_([p])
    assert found.tolist() == [False, True, False]
    assert p.grad[0].tolist() == [1.0, 2.0] and p.grad[2].tolist() == [0.5, 0.5]
    scaler.update(found)
    assert scaler.scale.tolist() == [4.0, 2.0, 4.0]
    scaler.update(torch.tensor([False, False, True]))
    assert scaler.scale.tolist() == [8.0, 2.0, 2.0]  # replica 0: 2 finite steps -> grows
    assert scaler.tracker.tolist() == [0, 1, 0]


def test_scaled_run_skips_only_the_overflowing_replica(tiny_float32):
    # alpha = 1e30 overflows float16 even unscaled; alpha = 1 trains normally
    history = train_stacked(
        tiny_float32, [0, 0], [1.0, 1e30], "adam", ADAM, 3, precision=PRECISIONS["float16_scaled"]
    )
    nonfinite = history.columns["grad_nonfinite_frac"]
    assert (nonfinite[:, 1] > 0).all() and (nonfinite[:, 0] == 0).all()
    assert history.columns["train_loss"][-1, 0] != history.columns["train_loss"][0, 0]
    assert not history.columns["diverged"].any(), "skipped steps are not divergence"


def test_unknown_precision_names_the_allowed_ones():
    with pytest.raises(
        ValueError, match="precision: value 'float8' is not allowed; allowed: float64"
    ):
        precision("float8")
