"""Stacked SGD, ASGD and Rprop (``torch.optim``) and the package's Lion and signSGD.

SGD, ASGD and Rprop follow the ``_single_tensor_*`` functions of PyTorch 2.13
(``torch/optim/{sgd,asgd,rprop}.py``; ``maximize=False``, not capturable or
differentiable); Lion and signSGD follow ``lossscale.optim.{lion,signsgd}``. Every
replica equals a lone run with its own scalar hyperparameters bit for bit (CPU).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from lossscale.train.stacked_optim.base import StackedOptimizer
from lossscale.train.stacked_optim.coefficients import Value, power
from lossscale.train.stacked_optim.kernels import Coef, add_scaled, add_scaled_, is_const, scale_


def _at(c: Coef, i: int) -> float | Tensor:
    """Coefficient ``c`` for parameter ``i``: the float, or that parameter's view."""
    return c if isinstance(c, float) else c[i]


class _Momentum(StackedOptimizer):
    """Optimizers with a ``momentum_buffer`` that exists only when some momentum is > 0."""

    def _constants(self) -> dict[str, Value]:
        return {**super()._constants(), "momentum": self.h.momentum, "neg_lr": -self.h.lr}

    def _init_state(self) -> dict[str, list[Tensor]]:
        return {} if is_const(self.c.momentum, 0.0) else {"momentum_buffer": self.zeros()}


class StackedSGD(_Momentum):
    """``torch.optim.SGD`` (``_single_tensor_sgd``): momentum, dampening, Nesterov, coupled
    decay. The buffer starts as a copy of the first (decayed) gradient, as in torch.

    A replica with momentum 0 in a stack where others have momentum keeps a buffer equal
    to its gradient (``0 * buf + 1 * g``, exact; its dampening is ignored, as torch
    ignores it without momentum), so its step is torch's step without momentum.
    """

    name = "sgd"

    def _check(self) -> None:
        momentum, dampening = np.asarray(self.h.momentum), np.asarray(self.h.dampening)
        if self.h.nesterov and (np.any(momentum <= 0) or np.any(dampening != 0)):
            raise ValueError(
                "nesterov: value True is not allowed with these settings; allowed: only with "
                "momentum > 0 and dampening = 0 for every replica"
            )

    def _constants(self) -> dict[str, Value]:
        h = self.h
        dampening = np.where(np.asarray(h.momentum) == 0, 0.0, h.dampening)
        return {**super()._constants(), "one_minus_dampening": 1 - dampening}

    def _update(self, params: list[Tensor], grads: list[Tensor], step: int) -> None:
        c = self.c
        grads = self.decayed(params, grads)
        if "momentum_buffer" in self.state:
            buf = self.state["momentum_buffer"]
            if step == 1:
                torch._foreach_copy_(buf, grads)
            else:
                scale_(buf, c.momentum)
                add_scaled_(buf, grads, c.one_minus_dampening)
            grads = add_scaled(grads, buf, c.momentum) if self.h.nesterov else buf
        add_scaled_(params, grads, c.neg_lr)


class StackedSignSGD(_Momentum):
    """``lossscale.optim.SignSGD``: ``theta -= lr * sign(g)``, or Signum with momentum."""

    name = "signsgd"

    def _constants(self) -> dict[str, Value]:
        return {**super()._constants(), "one_minus_momentum": 1 - self.h.momentum}

    def _update(self, params: list[Tensor], grads: list[Tensor], step: int) -> None:
        c = self.c
        direction = grads
        if "momentum_buffer" in self.state:
            direction = self.state["momentum_buffer"]
            scale_(direction, c.momentum)
            add_scaled_(direction, grads, c.one_minus_momentum)
        add_scaled_(params, list(torch._foreach_sign(direction)), c.neg_lr)


class StackedLion(StackedOptimizer):
    """``lossscale.optim.Lion``: ``theta -= lr * (sign(beta1 m + (1 - beta1) g) + wd theta)``,
    then ``m = beta2 m + (1 - beta2) g``.
    """

    name = "lion"

    def _constants(self) -> dict[str, Value]:
        h = self.h
        return {
            **super()._constants(),
            "beta1": h.beta1,
            "beta2": h.beta2,
            "one_minus_beta1": 1 - h.beta1,
            "one_minus_beta2": 1 - h.beta2,
            "neg_lr": -h.lr,
        }

    def _init_state(self) -> dict[str, list[Tensor]]:
        return {"exp_avg": self.zeros()}

    def _update(self, params: list[Tensor], grads: list[Tensor], step: int) -> None:
        c, m = self.c, self.state["exp_avg"]
        direction = list(torch._foreach_mul(m, c.beta1))
        torch._foreach_add_(direction, torch._foreach_mul(grads, c.one_minus_beta1))
        torch._foreach_sign_(direction)
        self.decayed(params, grads)
        add_scaled_(params, direction, c.neg_lr)
        scale_(m, c.beta2)
        add_scaled_(m, grads, c.one_minus_beta2)


class StackedASGD(StackedOptimizer):
    """``torch.optim.ASGD`` (``_single_tensor_asgd``): decay by ``1 - lambd * eta``, step
    ``eta``, Polyak average ``ax`` with weight ``mu``.

    ``eta`` and ``mu`` are functions of the step count; they are rounded to the scalar
    dtype as torch's state tensors round them: ``eta_1 = lr``, ``mu_1 = 1``, and after
    step t ``eta = lr / (1 + lambd lr t)^alpha``, ``mu = 1 / max(1, t - t0)``.
    """

    name = "asgd"

    def _init_state(self) -> dict[str, list[Tensor]]:
        return {"ax": self.zeros()}

    def _update(self, params: list[Tensor], grads: list[Tensor], step: int) -> None:
        h, ax = self.h, self.state["ax"]
        if step == 1:
            eta, mu = self.round_scalar(h.lr), 1.0
        else:
            done = float(step - 1)
            eta = self.round_scalar(h.lr / power(1 + h.lambd * h.lr * done, h.alpha))
            mu = self.round_scalar(1 / np.maximum(1.0, done - h.t0))
        grads = self.decayed(params, grads)
        k = self.coefs(decay=1 - h.lambd * eta, neg_eta=-eta, mu=mu)
        scale_(params, k.decay)
        add_scaled_(params, grads, k.neg_eta)
        averaged = np.asarray(mu) != 1
        if not averaged.any():
            torch._foreach_copy_(ax, params)
            return
        diff = list(torch._foreach_sub(params, ax))
        torch._foreach_mul_(diff, k.mu)
        if averaged.all():
            torch._foreach_add_(ax, diff)
            return
        masks = self.mask_views(averaged)
        for a, p, d, w in zip(ax, params, diff, masks, strict=True):
            a.copy_(torch.where(w, a + d, p))


class StackedRprop(StackedOptimizer):
    """``torch.optim.Rprop`` (``_single_tensor_rprop``): per-entry step sizes grown by
    ``etaplus`` or shrunk by ``etaminus`` with the sign of ``g * prev``, clamped to
    ``step_sizes``; the gradient is zeroed where the sign flipped.
    """

    name = "rprop"

    def _constants(self) -> dict[str, Value]:
        h = self.h
        keys = ("etaminus", "etaplus", "step_size_min", "step_size_max")
        return {k: getattr(h, k) for k in keys}

    def _init_state(self) -> dict[str, list[Tensor]]:
        return {"prev": self.zeros(), "step_size": self.full(self.h.lr)}

    def _update(self, params: list[Tensor], grads: list[Tensor], step: int) -> None:
        c, s = self.c, self.state
        signs = list(torch._foreach_mul(grads, s["prev"]))
        torch._foreach_sign_(signs)
        for i, (p, g, prev, size, sign) in enumerate(
            zip(params, grads, s["prev"], s["step_size"], signs, strict=True)
        ):
            etaminus = _at(c.etaminus, i)
            factor = torch.where(sign.gt(0), _at(c.etaplus, i), sign)
            factor = torch.where(sign.lt(0), etaminus, factor)
            factor = torch.where(sign.eq(0), 1.0, factor)
            size.mul_(factor).clamp_(_at(c.step_size_min, i), _at(c.step_size_max, i))
            g = torch.where(factor.eq(etaminus), 0.0, g)
            p.addcmul_(g.sign(), size, value=-1)
            prev.copy_(g)


__all__ = ["StackedASGD", "StackedLion", "StackedRprop", "StackedSGD", "StackedSignSGD"]
