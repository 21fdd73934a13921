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

from dataclasses import dataclass
from typing import Any

from lossscale.study import optimizers

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
ALWAYS_DECOUPLED = frozenset(optimizers.names(decay="decoupled"))
#: Optimizers that choose with a ``decoupled_weight_decay`` flag.
FLAG = "decoupled_weight_decay"


def optimizer_keywords(name: str) -> dict[str, Any]:
    """The optimizer's hyperparameter keywords and their defaults (PyTorch's)."""
    return optimizers.get(name).keywords


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
