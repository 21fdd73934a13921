"""A tanh MLP whose parameters hold R independent replicas along dimension 0.

Shape convention: weights ``[R, fan_in, fan_out]``, biases ``[R, 1, fan_out]``, shared
inputs ``[N, d]``, outputs ``[R, N]``. Replica r computes exactly what a one-replica
model with the slices ``[r]`` computes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch


def init_mlp(sizes: Sequence[int], seed: int) -> list[torch.Tensor]:
    """One replica's parameters (float64), PyTorch ``nn.Linear``'s default distribution.

    Every weight and bias of a layer with fan-in n is uniform on [-1/sqrt(n), 1/sqrt(n)],
    drawn from a generator seeded with ``seed``, so a seed fixes the initialization.
    """
    gen = torch.Generator().manual_seed(seed)
    params = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        bound = 1.0 / math.sqrt(fan_in)
        for shape in ((fan_in, fan_out), (1, fan_out)):
            u = torch.rand(shape, generator=gen, dtype=torch.float64)
            params.append((2 * u - 1) * bound)
    return params


class StackedMLP:
    """R replicas of a tanh MLP, initialized from per-replica seeds."""

    def __init__(
        self,
        sizes: Sequence[int],
        seeds: Sequence[int],
        output_scale: float = 1.0,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str = "cpu",
    ) -> None:
        per_seed = {s: init_mlp(sizes, s) for s in sorted(set(seeds))}
        n_tensors = 2 * (len(sizes) - 1)
        self.params = [
            torch.stack([per_seed[s][i] for s in seeds])
            .to(device=device, dtype=dtype)
            .requires_grad_()
            for i in range(n_tensors)
        ]
        self.output_scale = output_scale
        self.replicas = len(seeds)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``[R, N]`` for shared inputs ``x`` of shape ``[N, d]``."""
        h = x
        last = len(self.params) // 2 - 1
        for layer in range(last + 1):
            w, b = self.params[2 * layer], self.params[2 * layer + 1]
            h = torch.matmul(h, w) + b
            if layer < last:
                h = torch.tanh(h)
        return h.squeeze(-1) * self.output_scale
