"""How a replica's loss scale, regularization and compensation set its training.

A replica of a cell is ``(regularization, compensation, alpha, seed)``. Its loss scale
and hyperparameters follow from those and the optimizer's base hyperparameters:

* ``regularization`` — ``none`` (weight decay 0), ``coupled`` (the optimizer's
  ``weight_decay`` added to the gradient), ``decoupled`` (AdamW-style shrinking of the
  weights), ``l2`` (an explicit ``weight_decay / 2 * |theta|^2`` term in the loss, not
  multiplied by alpha, as a regularizer added beside a user's scaled loss), each with
  the replica's strength ``weight_decay`` (set by the config's block).
* ``compensation`` — ``none`` (the loss times alpha), ``eps`` (the loss times alpha and
  eps times alpha, which undoes loss scaling for Adam-type optimizers), ``lr`` (the loss
  times alpha and the learning rate divided by alpha, which undoes it for SGD),
  ``lr_instead`` (the loss left alone and the learning rate times alpha: the asker's
  alternative to scaling the loss) and ``eps_instead`` (the loss left alone and eps
  divided by alpha: for Adam-type optimizers the exact equivalent of the loss times
  alpha, a control of the phase diagram).

Whether a compensation restores equivalence is what the statistics measure; this module
only refuses combinations that do not exist (a decoupled variant of an optimizer without
one, eps compensation of an optimizer without a scalar eps).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lossscale.train.stacked_optim import PER_REPLICA_CLASSES, STACKED
from lossscale.train.stacked_optim.per_replica import ADAMW_EPS, hyperparameters

REGULARIZATIONS = ("none", "coupled", "decoupled", "l2")
COMPENSATIONS = ("none", "eps", "lr", "lr_instead", "eps_instead")
#: Compensations that leave the loss unscaled and change a hyperparameter instead.
INSTEAD = ("lr_instead", "eps_instead")
#: The hyperparameter each compensation changes, and whether it multiplies it by alpha
#: (True) or divides it by alpha (False).
CHANGES = {
    "eps": ("eps", True),
    "lr": ("lr", False),
    "lr_instead": ("lr", True),
    "eps_instead": ("eps", False),
}

#: Optimizers whose weight decay is always decoupled (no coupled form to choose).
ALWAYS_DECOUPLED = frozenset(
    {name for name, cls in STACKED.items() if cls.decoupled} | {"adafactor", "muon"}
)
#: Optimizers that choose with a ``decoupled_weight_decay`` flag.
FLAG = "decoupled_weight_decay"


def optimizer_keywords(name: str) -> dict[str, Any]:
    """The optimizer's hyperparameter keywords and their defaults."""
    if name in STACKED:
        cls = STACKED[name]
        flat = {k: s.default for k, s in cls.spec.items()}
        for public, names in cls.pairs.items():
            flat[public] = tuple(flat.pop(n) for n in names)
        return flat
    keywords = hyperparameters(PER_REPLICA_CLASSES[name])
    keywords.pop("maximize", None)  # not a setting of the study (the stacked ones lack it)
    return keywords


def unsupported(optimizer: str, regularization: str, compensation: str) -> str | None:
    """Why ``optimizer`` has no such variant (None when it has)."""
    keys = optimizer_keywords(optimizer)
    if regularization in ("coupled", "decoupled") and "weight_decay" not in keys:
        return f"{optimizer} has no weight decay (use regularization l2)"
    if regularization == "coupled" and optimizer in ALWAYS_DECOUPLED:
        return f"{optimizer}'s weight decay is always decoupled (use l2 for a coupled penalty)"
    if regularization == "decoupled" and optimizer not in ALWAYS_DECOUPLED and FLAG not in keys:
        return f"{optimizer} has no decoupled weight decay"
    changed = CHANGES.get(compensation, (None,))[0]
    if changed == "eps" and not isinstance(keys.get("eps"), float):
        return f"{optimizer} has no scalar eps"
    if changed == "lr" and "lr" not in keys:
        return f"{optimizer} has no learning rate"
    return None


@dataclass(frozen=True, order=True)
class Replica:
    """One replica of a cell (ordered by its fields, in this order)."""

    regularization: str
    compensation: str
    weight_decay: float
    alpha: float
    seed: int


@dataclass(frozen=True)
class Setup:
    """What the engine needs for R replicas: per-replica loss scales, L2 strengths and
    seeds, and hyperparameters (a value shared by all replicas or a list of R)."""

    loss_scales: list[float]
    l2: list[float]
    seeds: list[int]
    hyper: dict[str, Any]


def replica_setup(optimizer: str, base: Mapping[str, Any], replicas: Sequence[Replica]) -> Setup:
    """Loss scales, L2 strengths and hyperparameters of ``replicas`` of ``optimizer``.

    ``base`` holds the configured hyperparameters (without weight decay, which each
    replica's regularization sets).
    """
    keys = optimizer_keywords(optimizer)
    per_replica: list[dict[str, Any]] = []
    scales, l2 = [], []
    for rep in replicas:
        why = unsupported(optimizer, rep.regularization, rep.compensation)
        if why:
            raise ValueError(
                f"regularization {rep.regularization!r} with compensation "
                f"{rep.compensation!r}: not available, {why}"
            )
        hyper = dict(base)
        if "weight_decay" in keys:
            decays = rep.regularization in ("coupled", "decoupled")
            hyper["weight_decay"] = rep.weight_decay if decays else 0.0
        if FLAG in keys:
            hyper[FLAG] = rep.regularization == "decoupled"
        scale = 1.0 if rep.compensation in INSTEAD else rep.alpha
        name, times = CHANGES.get(rep.compensation, (None, True))
        if name is not None:
            hyper[name] = _changed(hyper.get(name, keys[name]), rep.alpha, times)
        if optimizer == "muon":  # the AdamW beside Muon follows eps compensation too
            moved = name == "eps"
            hyper["adamw_eps"] = _changed(ADAMW_EPS, rep.alpha, times) if moved else ADAMW_EPS
        scales.append(float(scale))
        l2.append(rep.weight_decay if rep.regularization == "l2" else 0.0)
        per_replica.append(hyper)
    names = dict.fromkeys(k for hyper in per_replica for k in hyper)
    defaults = {**keys, "adamw_eps": ADAMW_EPS}
    return Setup(
        loss_scales=scales,
        l2=l2,
        seeds=[rep.seed for rep in replicas],
        hyper={
            key: _shared_or_list([hyper.get(key, defaults[key]) for hyper in per_replica])
            for key in names
        },
    )


def _changed(value: float, alpha: float, times: bool) -> float:
    """``value`` times or divided by ``alpha``."""
    return value * alpha if times else value / alpha


def _shared_or_list(values: list) -> Any:
    """One value when every replica has it, else the list (tuples: entry by entry)."""
    first = values[0]
    if all(v == first for v in values):
        return first
    if isinstance(first, tuple | list):
        return tuple(_shared_or_list([v[i] for v in values]) for i in range(len(first)))
    if isinstance(first, bool):
        return np.array(values, dtype=bool)
    return list(values)
