"""RMSprop and Adagrad with eps inside the square root, as Keras 3 computes them.

PyTorch divides by ``sqrt(v) + eps``; Keras (``keras.optimizers.RMSprop`` and
``keras.optimizers.Adagrad``, Keras 3) divides by ``sqrt(v + eps)``, as does the formula
of the accepted answer the study starts from. Multiplying the loss by alpha multiplies
``v`` by alpha^2, so the compensating transformation is ``eps / alpha^2`` here but
``eps / alpha`` in PyTorch. References: Tieleman and Hinton, Lecture 6.5 (RMSprop),
COURSERA 2012; Duchi, Hazan and Singer, JMLR 12:2121-2159, 2011 (Adagrad).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from lossscale.optim.base import PerParameterOptimizer


class _EpsInsideSqrt(PerParameterOptimizer):
    """Shared update: accumulate ``v`` from ``g``, then ``theta -= lr * g / sqrt(v + eps)``."""

    def _accumulate(self, group: dict, state: dict, grad: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _apply(self, group: dict, state: dict, p: torch.Tensor, increment: torch.Tensor) -> None:
        p.sub_(increment)

    def update(
        self, group: dict[str, Any], state: dict[str, Any], p: torch.Tensor, grad: torch.Tensor
    ) -> None:
        """One update of ``p``."""
        denominator = self._accumulate(group, state, grad)
        self._apply(group, state, p, grad * group["lr"] / torch.sqrt(denominator + group["eps"]))


class KerasRMSprop(_EpsInsideSqrt):
    """RMSprop with ``v = rho v + (1 - rho) g^2`` and ``theta -= lr g / sqrt(v + eps)``.

    ``centered`` subtracts the squared running mean of ``g`` from ``v`` (inside the root,
    before ``eps``); ``momentum`` > 0 accumulates the increments as Keras does
    (``b = momentum * b + increment``, ``theta -= b``). Defaults are Keras'.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 1e-3,
        rho: float = 0.9,
        momentum: float = 0.0,
        eps: float = 1e-7,
        centered: bool = False,
    ) -> None:
        if not (lr > 0 and eps >= 0 and 0 <= rho < 1 and 0 <= momentum < 1):
            raise ValueError("need lr > 0, eps >= 0, 0 <= rho < 1 and 0 <= momentum < 1")
        defaults = {"lr": lr, "rho": rho, "momentum": momentum, "eps": eps, "centered": centered}
        super().__init__(params, defaults)

    def _accumulate(self, group: dict, state: dict, grad: torch.Tensor) -> torch.Tensor:
        if not state:
            state["velocity"] = torch.zeros_like(grad)
            state["average_gradient"] = torch.zeros_like(grad)
            state["momentum"] = torch.zeros_like(grad)
        rho = group["rho"]
        state["velocity"].mul_(rho).add_(grad * grad, alpha=1 - rho)
        if not group["centered"]:
            return state["velocity"]
        state["average_gradient"].mul_(rho).add_(grad, alpha=1 - rho)
        return state["velocity"] - state["average_gradient"] ** 2

    def _apply(self, group: dict, state: dict, p: torch.Tensor, increment: torch.Tensor) -> None:
        if group["momentum"] > 0:
            increment = state["momentum"].mul_(group["momentum"]).add_(increment)
        p.sub_(increment)


class KerasAdagrad(_EpsInsideSqrt):
    """Adagrad with ``v = v0 + sum of g^2`` and ``theta -= lr g / sqrt(v + eps)``.

    Defaults are Keras': ``initial_accumulator_value`` 0.1, ``eps`` 1e-7.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 1e-3,
        initial_accumulator_value: float = 0.1,
        eps: float = 1e-7,
    ) -> None:
        if not (lr > 0 and eps >= 0 and initial_accumulator_value >= 0):
            raise ValueError("need lr > 0, eps >= 0 and initial_accumulator_value >= 0")
        defaults = {"lr": lr, "initial_accumulator_value": initial_accumulator_value, "eps": eps}
        super().__init__(params, defaults)

    def _accumulate(self, group: dict, state: dict, grad: torch.Tensor) -> torch.Tensor:
        if not state:
            state["accumulator"] = torch.full_like(grad, group["initial_accumulator_value"])
        return state["accumulator"].add_(grad * grad)
