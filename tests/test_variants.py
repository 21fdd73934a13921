"""Replica variants: what each regularization and compensation sets, and (trained in
float64) the equivalences that must hold exactly up to round-off."""

from __future__ import annotations

import numpy as np
import pytest

from lossscale.train.engine import train_stacked
from lossscale.train.variants import Replica, replica_setup, unsupported

STEPS = 25


def rep(alpha, regularization="none", compensation="none", weight_decay=0.0, seed=0):
    return Replica(regularization, compensation, weight_decay, alpha, seed)


def test_setup_sets_scales_hyperparameters_and_penalties():
    reps = [
        rep(1.0),
        rep(1e3, compensation="eps"),
        rep(1e3, compensation="lr_instead"),
        rep(1e3, "coupled", weight_decay=0.1),
        rep(1e3, "decoupled", weight_decay=0.1),
        rep(1e3, "l2", weight_decay=0.1),
    ]
    setup = replica_setup("adam", {"lr": 1e-3, "eps": 1e-8}, reps)
    assert setup.loss_scales == [1.0, 1e3, 1.0, 1e3, 1e3, 1e3]
    assert setup.l2 == [0, 0, 0, 0, 0, 0.1]
    assert setup.hyper["eps"] == [1e-8, 1e-5, 1e-8, 1e-8, 1e-8, 1e-8]
    assert setup.hyper["lr"] == [1e-3, 1e-3, 1.0, 1e-3, 1e-3, 1e-3]
    assert setup.hyper["weight_decay"] == [0, 0, 0, 0.1, 0.1, 0]
    assert setup.hyper["decoupled_weight_decay"].tolist() == [0, 0, 0, 0, 1, 0]
    shared = replica_setup("adam", {"lr": 1e-3}, [rep(1.0), rep(2.0)])
    assert shared.hyper == {"lr": 1e-3, "weight_decay": 0.0, "decoupled_weight_decay": False}


def test_unsupported_variants_say_why():
    assert unsupported("adam", "coupled", "eps") is None
    assert "no scalar eps" in unsupported("adafactor", "none", "eps")
    with pytest.raises(ValueError, match="sgd has no scalar eps"):
        replica_setup("sgd", {}, [rep(2.0, compensation="eps")])


def train(task, optimizer, base, reps):
    setup = replica_setup(optimizer, base, reps)
    return train_stacked(
        task, setup.seeds, setup.loss_scales, optimizer, setup.hyper, STEPS, l2=setup.l2
    )


@pytest.mark.parametrize(
    ("optimizer", "base", "compensation"),
    [("adam", {"lr": 1e-2}, "eps"), ("rmsprop", {"lr": 1e-3}, "eps"), ("sgd", {"lr": 1e4}, "lr")],
)
def test_compensation_undoes_the_loss_scale(tiny_task, optimizer, base, compensation):
    """Loss x alpha with the compensating transform trains like alpha = 1; without it,
    it does not (so the check can fail)."""
    reps = [rep(1.0), rep(1e4, compensation=compensation), rep(1e4)]
    loss = train(tiny_task, optimizer, base, reps).columns["train_loss"]
    np.testing.assert_allclose(loss[:, 1], loss[:, 0], rtol=1e-9)
    assert abs(loss[-1, 2] - loss[-1, 0]) > 1e-3 * loss[-1, 0]


def test_raising_the_learning_rate_is_sgd_s_loss_scale(tiny_task):
    reps = [rep(30.0), rep(30.0, compensation="lr_instead")]
    loss = train(tiny_task, "sgd", {"lr": 1e3}, reps).columns["train_loss"]
    np.testing.assert_allclose(loss[:, 1], loss[:, 0], rtol=1e-9)


def test_explicit_l2_equals_coupled_weight_decay_and_differs_from_decoupled(tiny_task):
    reps = [rep(10.0, "coupled", weight_decay=0.5), rep(10.0, "l2", weight_decay=0.5)]
    reps.append(rep(10.0, "decoupled", weight_decay=0.5))
    loss = train(tiny_task, "adam", {"lr": 1e-2}, reps).columns["train_loss"]
    np.testing.assert_allclose(loss[:, 1], loss[:, 0], rtol=1e-9)
    assert abs(loss[-1, 2] - loss[-1, 0]) > 1e-3 * loss[-1, 0]


@pytest.mark.parametrize(("optimizer", "base"), [("adam", {"lr": 1e-2}), ("nadam", {"lr": 2e-3})])
def test_dividing_eps_is_the_loss_scale_and_raising_lr_is_not(tiny_task, optimizer, base):
    """The phase diagram's arms: eps / alpha with the loss unscaled (eps_instead) trains
    exactly like the loss x alpha; the learning rate x alpha (lr_instead) does not."""
    reps = [rep(1e4), rep(1e4, compensation="eps_instead"), rep(1e4, compensation="lr_instead")]
    setup = replica_setup(optimizer, base, reps)
    assert setup.loss_scales == [1e4, 1.0, 1.0]
    assert setup.hyper["eps"][1] == setup.hyper["eps"][0] / 1e4
    loss = train(tiny_task, optimizer, base, reps).columns["train_loss"]
    np.testing.assert_allclose(loss[:, 1], loss[:, 0], rtol=1e-9)
    assert abs(loss[-1, 2] - loss[-1, 0]) > 1e-3 * loss[-1, 0]
    assert "sgd has no scalar eps" in unsupported("sgd", "none", "eps_instead")
