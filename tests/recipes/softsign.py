"""src/lossscale/optim/softsign.py: the lone optimizer (recipe "add an optimizer").

SoftSign steps ``theta -= lr * g / (|g| + eps)``: sign descent for large gradients,
gradient descent with rate ``lr / eps`` for gradients far below eps. Multiplying the
loss by alpha is the same as dividing eps by alpha (and undone by multiplying it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from lossscale.optim.base import PerParameterOptimizer


class SoftSign(PerParameterOptimizer):
    """``theta -= lr * g / (|g| + eps)``."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1e-3, eps: float = 1e-8):
        if not lr > 0 or not eps >= 0:
            raise ValueError(f"lr must be > 0 and eps >= 0, got {lr}, {eps}")
        super().__init__(params, {"lr": lr, "eps": eps})

    def update(
        self, group: dict[str, Any], state: dict[str, Any], p: torch.Tensor, grad: torch.Tensor
    ) -> None:
        p.addcdiv_(grad, grad.abs().add_(group["eps"]), value=-group["lr"])
