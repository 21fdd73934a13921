"""Optimizers by config name: the real ``torch.optim`` classes with their base settings."""

from __future__ import annotations

from collections.abc import Iterable

import torch

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "nadam": torch.optim.NAdam,
}


def make_optimizer(name: str, params: Iterable[torch.Tensor], hyper: dict) -> torch.optim.Optimizer:
    """Instantiate optimizer ``name`` on ``params`` with hyperparameters ``hyper``."""
    if name not in OPTIMIZERS:
        allowed = ", ".join(OPTIMIZERS)
        raise ValueError(f"optimizer: value {name!r} is not allowed; allowed: {allowed}")
    return OPTIMIZERS[name](params, **hyper)
