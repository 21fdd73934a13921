"""The update kernels of the stacked optimizers: ``torch._foreach_*`` calls over every
parameter at once, with a coefficient that is a float (every replica) or one
``[R, 1, ...]`` view per parameter (:data:`Coef`), so a step costs a fixed number of
calls, whatever R.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: A coefficient handed to the kernels: a float, or one ``[R, 1, ...]`` view per parameter.
Coef = float | list[Tensor]


def is_const(c: Coef, value: float) -> bool:
    """Whether coefficient ``c`` is the float ``value`` for every replica."""
    return isinstance(c, float) and c == value


def scale_(xs: list[Tensor], c: Coef) -> None:
    """``x *= c`` (``torch.Tensor.mul_``)."""
    torch._foreach_mul_(xs, c)


def add_scaled_(ys: list[Tensor], xs: list[Tensor], c: Coef) -> None:
    """``y += c * x`` (``y.add_(x, alpha=c)``)."""
    if isinstance(c, float):
        torch._foreach_add_(ys, xs, alpha=c)
    else:
        torch._foreach_addcmul_(ys, xs, c)


def add_scaled(ys: list[Tensor], xs: list[Tensor], c: Coef) -> list[Tensor]:
    """``y + c * x`` as new tensors (``y.add(x, alpha=c)``)."""
    if isinstance(c, float):
        return list(torch._foreach_add(ys, xs, alpha=c))
    return list(torch._foreach_addcmul(ys, xs, c))


def addcmul_(ys: list[Tensor], a: list[Tensor], b: list[Tensor], c: Coef) -> None:
    """``y += c * a * b`` (``y.addcmul_(a, b, value=c)``)."""
    if isinstance(c, float):
        torch._foreach_addcmul_(ys, a, b, value=c)
    else:
        torch._foreach_addcmul_(ys, torch._foreach_mul(a, c), b)


def addcdiv_(ys: list[Tensor], a: list[Tensor], b: list[Tensor], c: Coef) -> None:
    """``y += c * a / b`` (``y.addcdiv_(a, b, value=c)``)."""
    if isinstance(c, float):
        torch._foreach_addcdiv_(ys, a, b, value=c)
    else:
        torch._foreach_addcdiv_(ys, torch._foreach_mul(a, c), b)


def lerp_(ys: list[Tensor], xs: list[Tensor], w: Coef) -> None:
    """``y += w * (x - y)`` (``y.lerp_(x, w)``)."""
    torch._foreach_lerp_(ys, xs, w)


def ema_sq_(vs: list[Tensor], grads: list[Tensor], beta: Coef, one_minus_beta: Coef) -> None:
    """``v = beta * v + (1 - beta) * g * g`` (``v.mul_(beta).addcmul_(g, g, value=1 - beta)``)."""
    scale_(vs, beta)
    addcmul_(vs, grads, grads, one_minus_beta)


def sqrt_plus(xs: list[Tensor], eps: Coef, divisor: Coef = 1.0) -> list[Tensor]:
    """``sqrt(x) / divisor + eps`` as new tensors (``(x.sqrt() / divisor).add_(eps)``)."""
    out = list(torch._foreach_sqrt(xs))
    if not is_const(divisor, 1.0):
        torch._foreach_div_(out, divisor)
    torch._foreach_add_(out, eps)
    return out
