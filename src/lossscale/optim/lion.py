"""Lion (EvoLved Sign Momentum), as a ``torch.optim.Optimizer``.

Chen, Liang, Huang, Real, Wang, Pham, Dong, Luong, Hsieh, Lu, Le. Symbolic Discovery of
Optimization Algorithms. NeurIPS 2023. arXiv:2302.06675 (Algorithm 2).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from lossscale.optim.base import PerParameterOptimizer


class Lion(PerParameterOptimizer):
    """Lion: the sign of an interpolated momentum, with decoupled weight decay.

    Per parameter ``theta`` with gradient ``g`` and momentum ``m`` (zero at the start)::

        c      = beta1 * m + (1 - beta1) * g
        theta  = theta - lr * (sign(c) + weight_decay * theta)
        m      = beta2 * m + (1 - beta2) * g

    ``sign`` makes the update independent of the gradient's scale: multiplying the loss
    by any alpha > 0 leaves the trajectory unchanged.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
    ) -> None:
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"betas must lie in [0, 1), got {betas}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "weight_decay": weight_decay})

    def update(
        self, group: dict[str, Any], state: dict[str, Any], p: torch.Tensor, grad: torch.Tensor
    ) -> None:
        """One Lion update of ``p``."""
        beta1, beta2 = group["betas"]
        if not state:
            state["exp_avg"] = torch.zeros_like(p)
        m = state["exp_avg"]
        direction = torch.sign(m * beta1 + grad * (1 - beta1))
        if group["weight_decay"] != 0:
            p.mul_(1 - group["lr"] * group["weight_decay"])
        p.add_(direction, alpha=-group["lr"])
        m.mul_(beta2).add_(grad, alpha=1 - beta2)
