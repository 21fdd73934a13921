"""src/lossscale/train/stacked_optim/softsign.py: the stacked implementation (recipe
"add an optimizer"). Its ``name`` is its registry entry's, from which it takes its
keywords; per-replica values arrive as ``[R, 1, ...]`` views (``self.c``)."""

from __future__ import annotations

import torch
from torch import Tensor

from lossscale.train.stacked_optim.base import StackedOptimizer
from lossscale.train.stacked_optim.coefficients import Value
from lossscale.train.stacked_optim.kernels import addcdiv_


class StackedSoftSign(StackedOptimizer):
    """``lossscale.optim.softsign.SoftSign`` for R replicas at once."""

    name = "softsign"

    def _constants(self) -> dict[str, Value]:
        return {**super()._constants(), "neg_lr": -self.h.lr, "eps": self.h.eps}

    def _update(self, params: list[Tensor], grads: list[Tensor], step: int) -> None:
        denominators = list(torch._foreach_abs(grads))
        torch._foreach_add_(denominators, self.c.eps)
        addcdiv_(params, grads, denominators, self.c.neg_lr)
