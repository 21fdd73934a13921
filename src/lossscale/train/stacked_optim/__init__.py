"""Optimizers for R stacked replicas whose hyperparameters may differ per replica.

The training stage trains all replicas of a cell as one stacked model: every parameter
has a leading replica dimension. ``torch.optim`` takes one scalar per hyperparameter and
param group, so it cannot give replicas different learning rates, eps or weight decay;
the classes here can. Each reproduces the single-tensor update of its ``torch.optim``
counterpart (PyTorch 2.13) or of the package's Lion and signSGD, operation by operation:
on CPU every replica has the bits of a lone run with its own scalar hyperparameters
(``tests/test_stacked_optim.py`` checks this in float64 and float32).

``make_stacked_optimizer(name, model, hyper)`` builds one by config name for a stacked
model (or any :class:`~lossscale.models.Stack`): element-wise optimizers
(:data:`STACKED`) are stacked; LBFGS, Adafactor and Muon (:data:`PER_REPLICA`) run one
real instance per replica (:class:`PerReplicaOptimizer`), on the slices as the model's
lone module holds them where the registry says the layout matters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lossscale.models import Stack
from lossscale.study import optimizers
from lossscale.study.spec import Flag, Real
from lossscale.train.stacked_optim.adaptive import (
    StackedAdadelta,
    StackedAdagrad,
    StackedAdam,
    StackedAdamax,
    StackedAdamW,
    StackedNAdam,
    StackedRAdam,
    StackedRMSprop,
)
from lossscale.train.stacked_optim.base import StackedOptimizer
from lossscale.train.stacked_optim.first_order import (
    StackedASGD,
    StackedLion,
    StackedRprop,
    StackedSGD,
    StackedSignSGD,
)
from lossscale.train.stacked_optim.per_replica import (
    PER_REPLICA,
    PER_REPLICA_CLASSES,
    MuonAdamW,
    PerReplicaOptimizer,
)

#: Element-wise optimizers by the training stage's config names (the registry's
#: ``stacked`` entries, in its order).
STACKED: dict[str, type[StackedOptimizer]] = {
    name: optimizers.implementation(name) for name in optimizers.names(kind="stacked")
}


def make_stacked_optimizer(
    name: str, model: Stack, hyper: Mapping[str, Any] | None = None
) -> StackedOptimizer | PerReplicaOptimizer | MuonAdamW:
    """Optimizer ``name`` over ``model``'s stacked parameters with ``hyper`` (floats or R
    values).

    Names in :data:`STACKED` give a :class:`StackedOptimizer`; ``muon`` a
    :class:`MuonAdamW` (Muon for the model's hidden weight matrices, AdamW for the rest);
    the others in :data:`PER_REPLICA` a :class:`PerReplicaOptimizer` (whose ``step``
    differs: see it), on the model's lone views where the registry's ``lone_layout`` says.
    """
    hyper = dict(hyper or {})
    if name in STACKED:
        return STACKED[name](model.params, model.replicas, **hyper)
    if name == "muon":
        return MuonAdamW(model, **hyper)
    if name in PER_REPLICA:
        views = model.lone_views() if optimizers.get(name).lone_layout else None
        return PerReplicaOptimizer(name, model.params, model.replicas, views=views, **hyper)
    allowed = ", ".join([*STACKED, *sorted(PER_REPLICA)])
    raise ValueError(f"optimizer: value {name!r} is not allowed; allowed: {allowed}")


__all__ = [
    "PER_REPLICA",
    "PER_REPLICA_CLASSES",
    "STACKED",
    "Flag",
    "MuonAdamW",
    "PerReplicaOptimizer",
    "Real",
    "StackedASGD",
    "StackedAdadelta",
    "StackedAdagrad",
    "StackedAdam",
    "StackedAdamW",
    "StackedAdamax",
    "StackedLion",
    "StackedNAdam",
    "StackedOptimizer",
    "StackedRAdam",
    "StackedRMSprop",
    "StackedRprop",
    "StackedSGD",
    "StackedSignSGD",
    "make_stacked_optimizer",
]
