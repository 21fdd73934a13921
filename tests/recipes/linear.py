"""src/lossscale/models/linear.py: a stacked model (recipe "add a model").

R linear models ``x @ w + b``, initialized as ``nn.Linear`` is, from per-replica seeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from lossscale.models.base import StackedModel


class StackedLinear(StackedModel):
    """Weights ``[R, inputs, 1]``, biases ``[R, 1, 1]``; outputs ``[R, N]``."""

    def __init__(self, inputs: int, seeds: Sequence[int], dtype, device) -> None:
        per_seed = []
        for seed in seeds:
            gen = torch.Generator().manual_seed(seed)
            bound = 1 / math.sqrt(inputs)
            w, b = ((2 * torch.rand(s, generator=gen, dtype=torch.float64) - 1) * bound
                    for s in ((inputs, 1), (1, 1)))  # fmt: skip
            per_seed.append((w, b))
        params = [
            torch.stack([p[i] for p in per_seed]).to(device, dtype).requires_grad_()
            for i in range(2)
        ]
        super().__init__(params, len(seeds))

    def apply(self, params: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        w, b = params
        return torch.baddbmm(b, x.expand(w.shape[0], *x.shape), w).squeeze(-1)

    def lone_view(self, index: int, t: torch.Tensor) -> torch.Tensor:
        return t.mT if index == 0 else t.squeeze(0)

    def lone_module(self, r: int) -> nn.Module:
        w, b = (p[r].detach() for p in self.params)
        linear = nn.Linear(w.shape[0], 1, dtype=w.dtype, device=w.device)
        with torch.no_grad():
            linear.weight.copy_(self.lone_view(0, w))
            linear.bias.copy_(self.lone_view(1, b))
        return nn.Sequential(linear, nn.Flatten(0))

    def layers(self) -> list[list[int]]:
        return [[0, 1]]
