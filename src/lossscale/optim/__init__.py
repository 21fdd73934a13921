"""Optimizers: the real ``torch.optim`` classes and the few the package implements.

``OPTIMIZERS`` maps the training stage's config names to classes; ``optimizer_class``
resolves the class names the derivation claims use (``SGD``, ``Adam``, ``Lion``, ...).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from lossscale.optim.keras_style import KerasAdagrad, KerasRMSprop
from lossscale.optim.lion import Lion
from lossscale.optim.signsgd import SignSGD
from lossscale.study import optimizers

#: The lone optimizer class each registered optimizer reproduces, by config name.
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    name: optimizers.reference(name) for name in optimizers.OPTIMIZERS
}

#: The package's optimizers by the names the claims ledger and the paper use: the
#: registry's own (by label) and the Keras-style variants the ledger checks.
OWN_OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    **{o.label: OPTIMIZERS[o.name] for o in optimizers.OPTIMIZERS.values() if o.ours},
    "KerasRMSprop": KerasRMSprop,
    "KerasAdagrad": KerasAdagrad,
}


def optimizer_class(name: str) -> type[torch.optim.Optimizer] | None:
    """The optimizer class called ``name`` (a ``torch.optim`` class or one of ours)."""
    if name in OWN_OPTIMIZERS:
        return OWN_OPTIMIZERS[name]
    cls = getattr(torch.optim, name, None)
    if isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer):
        return None if cls is torch.optim.Optimizer else cls
    return None


def make_optimizer(name: str, params: Iterable[torch.Tensor], hyper: dict) -> torch.optim.Optimizer:
    """Instantiate optimizer ``name`` on ``params`` with hyperparameters ``hyper``."""
    if name not in OPTIMIZERS:
        allowed = ", ".join(OPTIMIZERS)
        raise ValueError(f"optimizer: value {name!r} is not allowed; allowed: {allowed}")
    return OPTIMIZERS[name](params, **hyper)


__all__ = [
    "OPTIMIZERS",
    "OWN_OPTIMIZERS",
    "KerasAdagrad",
    "KerasRMSprop",
    "Lion",
    "SignSGD",
    "make_optimizer",
    "optimizer_class",
]
