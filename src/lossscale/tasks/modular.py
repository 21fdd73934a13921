"""Modular addition for a small transformer: from the tokens ``a b =`` predict
``(a + b) mod p``, generated in code (every pair once, split at random)."""

from __future__ import annotations

import torch

from lossscale.models import ModelSpec
from lossscale.tasks.base import Task


def modular_task(
    *,
    modulus: int,
    train_fraction: float,
    data_seed: int,
    width: int,
    heads: int,
    blocks: int,
    objective: str,
    dtype: torch.dtype,
    device: torch.device | str,
) -> Task:
    """All ``modulus**2`` pairs; ``train_fraction`` of them (at random, from
    ``data_seed``) for training, the rest held out. The token ``modulus`` is "="."""
    a, b = torch.cartesian_prod(torch.arange(modulus), torch.arange(modulus)).unbind(1)
    tokens = torch.stack([a, b, torch.full_like(a, modulus)], dim=1)
    labels = (a + b) % modulus
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(data_seed))
    n_train = round(train_fraction * len(labels))
    train, test = order[:n_train].sort().values, order[n_train:].sort().values
    model = {"vocab": modulus + 1, "length": 3, "width": width, "heads": heads}
    return Task(
        name="modular",
        x_train=tokens[train].to(device),
        y_train=labels[train].to(device),
        x_test=tokens[test].to(device),
        y_test=labels[test].to(device),
        model=ModelSpec("transformer", {**model, "blocks": blocks, "classes": modulus}),
        metric_scale=1.0,
        objective=objective,
        param_dtype=dtype,
    )
