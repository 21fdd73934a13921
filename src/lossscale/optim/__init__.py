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

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "nadam": torch.optim.NAdam,
    "radam": torch.optim.RAdam,
    "adamax": torch.optim.Adamax,
    "rmsprop": torch.optim.RMSprop,
    "adagrad": torch.optim.Adagrad,
    "adadelta": torch.optim.Adadelta,
    "asgd": torch.optim.ASGD,
    "rprop": torch.optim.Rprop,
    "lion": Lion,
    "signsgd": SignSGD,
    "lbfgs": torch.optim.LBFGS,
    "adafactor": torch.optim.Adafactor,
    "muon": torch.optim.Muon,
}

#: The package's optimizers by the names the claims ledger and the paper use.
OWN_OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "Lion": Lion,
    "signSGD": SignSGD,
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
