"""signSGD and its momentum variant Signum, as a ``torch.optim.Optimizer``.

Bernstein, Wang, Azizzadenesheli, Anandkumar. signSGD: Compressed Optimisation for
Non-Convex Problems. ICML 2018. arXiv:1802.04434 (Algorithms 1 and 3).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from lossscale.optim.base import PerParameterOptimizer


class SignSGD(PerParameterOptimizer):
    """signSGD: ``theta = theta - lr * sign(g)``; with ``momentum`` > 0, Signum.

    Signum keeps ``m = momentum * m + (1 - momentum) * g`` (zero at the start) and steps
    along ``sign(m)``. Either way the update depends on the gradient's sign only, so
    multiplying the loss by any alpha > 0 leaves the trajectory unchanged.
    """

    def __init__(
        self, params: Iterable[torch.Tensor], lr: float = 1e-4, momentum: float = 0.0
    ) -> None:
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must lie in [0, 1), got {momentum}")
        super().__init__(params, {"lr": lr, "momentum": momentum})

    def update(
        self, group: dict[str, Any], state: dict[str, Any], p: torch.Tensor, grad: torch.Tensor
    ) -> None:
        """One signSGD (or Signum) update of ``p``."""
        direction = grad
        if group["momentum"] > 0:
            if not state:
                state["momentum_buffer"] = torch.zeros_like(p)
            direction = state["momentum_buffer"]
            direction.mul_(group["momentum"]).add_(grad, alpha=1 - group["momentum"])
        p.add_(torch.sign(direction), alpha=-group["lr"])
