"""src/lossscale/tasks/sine.py: a task builder (recipe "add a task").

Regression on generated data: features ``sin(k x)`` and ``cos(k x)`` for k = 1..n of
uniform inputs, targets a random combination of them plus noise, times ``target_scale``.
"""

from __future__ import annotations

import torch

from lossscale.models import ModelSpec
from lossscale.tasks.base import Task


def sine_task(
    *,
    harmonics: int,
    examples: int,
    noise: float,
    target_scale: float,
    data_seed: int,
    dtype: torch.dtype,
    device: torch.device | str,
) -> Task:
    """Every setting comes from the schema's ``$defs.sine`` (defaults live there)."""
    gen = torch.Generator().manual_seed(data_seed)
    x = torch.rand(examples, 1, generator=gen, dtype=torch.float64) * 6 - 3
    k = torch.arange(1, harmonics + 1, dtype=torch.float64)
    features = torch.cat([torch.sin(k * x), torch.cos(k * x)], dim=1)
    coef = torch.randn(2 * harmonics, generator=gen, dtype=torch.float64)
    y = features @ coef + noise * torch.randn(examples, generator=gen, dtype=torch.float64)
    y = (y - y.mean()) / y.std() * target_scale
    n_train = examples * 3 // 4

    def tensor(t: torch.Tensor) -> torch.Tensor:
        return t.to(device=device, dtype=dtype)

    return Task(
        name="sine",
        x_train=tensor(features[:n_train]),
        y_train=tensor(y[:n_train]),
        x_test=tensor(features[n_train:]),
        y_test=tensor(y[n_train:]),
        model=ModelSpec("linear", {"inputs": 2 * harmonics}),
        objective="mse",
        metric_scale=target_scale**2,
    )
