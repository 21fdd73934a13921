"""The step loop shared by the package's optimizers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


class PerParameterOptimizer(torch.optim.Optimizer):
    """An optimizer that updates each parameter on its own, from its gradient and state.

    Subclasses implement :meth:`update`; :meth:`step` evaluates the closure (if any) and
    calls it for every parameter that has a gradient.
    """

    def update(
        self, group: dict[str, Any], state: dict[str, Any], p: torch.Tensor, grad: torch.Tensor
    ) -> None:
        """Update parameter ``p`` in place (``state`` starts empty)."""
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        """One update of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self.update(group, self.state[p], p, p.grad)
        return loss
