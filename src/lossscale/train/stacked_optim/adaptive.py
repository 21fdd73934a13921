"""Stacked Adam, AdamW, NAdam, RAdam, Adamax, RMSprop, Adagrad and Adadelta.

Each follows the ``_single_tensor_*`` function of ``torch/optim/<name>.py`` (PyTorch
2.13, ``capturable=False``, ``differentiable=False``, ``maximize=False``) operation by
operation: a shared hyperparameter enters the same kernels as the same Python scalar, a
per-replica one as a broadcast tensor holding the scalar torch would compute, so every
replica equals a lone ``torch.optim`` run bit for bit (on CPU, PyTorch 2.13).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from lossscale.train.stacked_optim.base import StackedOptimizer
from lossscale.train.stacked_optim.coefficients import Value, bias_correction, collapse, power
from lossscale.train.stacked_optim.kernels import (
    add_scaled_,
    addcdiv_,
    ema_sq_,
    is_const,
    lerp_,
    scale_,
    sqrt_plus,
)


class _Moments(StackedOptimizer):
    """Adam-type optimizers: ``exp_avg`` (a lerp) and ``exp_avg_sq`` (an EMA of g^2)."""

    def _constants(self) -> dict[str, Value]:
        h = self.h
        return {
            **super()._constants(),
            "beta2": h.beta2,
            "one_minus_beta1": 1 - h.beta1,
            "one_minus_beta2": 1 - h.beta2,
            "eps": h.eps,
        }

    def _init_state(self) -> dict[str, list[Tensor]]:
        return {"exp_avg": self.zeros(), "exp_avg_sq": self.zeros()}

    def _moments(self, grads: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        """``exp_avg.lerp_(g, 1 - beta1)``; ``exp_avg_sq.mul_(beta2).addcmul_(g, g, 1 - beta2)``."""
        m, v = self.state["exp_avg"], self.state["exp_avg_sq"]
        lerp_(m, grads, self.c.one_minus_beta1)
        ema_sq_(v, grads, self.c.beta2, self.c.one_minus_beta2)
        return m, v


class StackedAdam(_Moments):
    """``torch.optim.Adam`` (``_single_tensor_adam``), AMSGrad and coupled or decoupled decay.

    ``decoupled_weight_decay`` may be given per replica, so that one stack holds coupled
    and decoupled (AdamW) variants.
    """

    name = "adam"

    def _init_state(self) -> dict[str, list[Tensor]]:
        state = super()._init_state()
        if self.h.amsgrad:
            state["max_exp_avg_sq"] = self.zeros()
        return state

    def _update(self, params: list[Tensor], grads: list[Tensor], step: int) -> None:
        h = self.h
        grads = self.decayed(params, grads)
        m, v = self._moments(grads)
        k = self.coefs(
            neg_step_size=-(h.lr / bias_correction(h.beta1, step)),
            bc2_sqrt=power(bias_correction(h.beta2, step), 0.5),
        )
        if h.amsgrad:
            torch._foreach_maximum_(self.state["max_exp_avg_sq"], v)
            v = self.state["max_exp_avg_sq"]
        addcdiv_(params, m, sqrt_plus(v, self.c.eps, k.bc2_sqrt), k.neg_step_size)


class StackedAdamW(StackedAdam):
    """``torch.optim.AdamW``: Adam with decoupled decay (``weight_decay`` default 1e-2)."""

    name = "adamw"


class StackedNAdam(_Moments):
    """``torch.optim.NAdam`` (``_single_tensor_nadam``), coupled or decoupled decay.

    ``mu_product`` is kept, as torch keeps it, in the scalar dtype (float32 unless the
    default dtype is float64), one value per replica.
    """

    name = "nadam"

    def _init_shared(self) -> dict[str, Tensor]:
        return {"mu_product": torch.ones(self.replicas, dtype=self.scalar_dtype)}

    def _update(self, params: list[Tensor], grads: list[Tensor], step: int) -> None:
        h, t = self.h, float(step)
        grads = self.decayed(params, grads)
        mu = h.beta1 * (1.0 - 0.5 * power(0.96, t * h.momentum_decay))
        mu_next = h.beta1 * (1.0 - 0.5 * power(0.96, (t + 1) * h.momentum_decay))
        mu_product = self.shared["mu_product"]
        mu_product.mul_(mu if isinstance(mu, float) else torch.from_numpy(mu).to(mu_product))
        mp = collapse(mu_product.to("cpu", torch.float64).numpy())
        m, v = self._moments(grads)
        k = self.coefs(
            bc2=bias_correction(h.beta2, step),
            grad_coef=-h.lr * (1.0 - mu) / (1.0 - mp),
            avg_coef=(-h.lr * mu_next) / (1.0 - mp * mu_next),
        )
        denom = list(torch._foreach_div(v, k.bc2))
        torch._foreach_sqrt_(denom)
        torch._foreach_add_(denom, self.c.eps)
        addcdiv_(params, grads, denom, k.grad_coef)
        addcdiv_(params, m, denom, k.avg_coef)


def _radam_rect(rho_t: Value, rho_inf: Value) -> Value:
    return power((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t), 0.5)


class StackedRAdam(_Moments):
    """``torch.optim.RAdam`` (``_single_tensor_radam``), coupled or decoupled decay.

    While ``rho_t <= 5`` a replica takes the un-rectified step ``lr * m_hat``; with beta2
    per replica some replicas may be rectified while others are not.
    """

    name = "radam"

    def _update(self, params: list[Tensor], grads: list[Tensor], step: int) -> None:
        h, t = self.h, float(step)
        grads = self.decayed(params, grads)
        m, v = self._moments(grads)
        bc2 = bias_correction(h.beta2, step)
        rho_inf = 2 / (1 - h.beta2) - 1
        rho_t = rho_inf - 2 * t * power(h.beta2, t) / bc2
        rectified = np.asarray(rho_t > 5.0)
        if isinstance(rho_t, float):
            rect: Value = _radam_rect(rho_t, rho_inf) if rectified else 1.0
        else:  # the formula (NaN where rho_t <= 5) is used where rho_t > 5 only
            rect = np.where(rectified, _radam_rect(rho_t, rho_inf), 1.0)
        k = self.coefs(
            bc1=bias_correction(h.beta1, step), lr=h.lr, bc2_sqrt=power(bc2, 0.5), rect=rect
        )
        update = list(torch._foreach_div(m, k.bc1))
        torch._foreach_mul_(update, k.lr)
        if rectified.any():
            adaptive = sqrt_plus(v, self.c.eps)
            torch._foreach_reciprocal_(adaptive)
            torch._foreach_mul_(adaptive, k.bc2_sqrt)
            if not rectified.all():
                masks = self.mask_views(rectified)
                adaptive = [torch.where(w, a, 1.0) for w, a in zip(masks, adaptive, strict=True)]
            torch._foreach_mul_(update, adaptive)
            torch._foreach_mul_(update, k.rect)
        torch._foreach_add_(params, update, alpha=-1.0)


class StackedAdamax(_Moments):
    """``torch.optim.Adamax`` (``_single_tensor_adamax``): ``u = max(beta2 u, |g| + eps)``."""

    name = "adamax"

    def _init_state(self) -> dict[str, list[Tensor]]:
        return {"exp_avg": self.zeros(), "exp_inf": self.zeros()}

    def _update(self, params: list[Tensor], grads: list[Tensor], step: int) -> None:
        h, c, s = self.h, self.c, self.state
        grads = self.decayed(params, grads)
        lerp_(s["exp_avg"], grads, c.one_minus_beta1)
        scale_(s["exp_inf"], c.beta2)
        norm = list(torch._foreach_abs(grads))
        torch._foreach_add_(norm, c.eps)
        torch._foreach_maximum_(s["exp_inf"], norm)
        k = self.coefs(neg_clr=-(h.lr / bias_correction(h.beta1, step)))
        addcdiv_(params, s["exp_avg"], s["exp_inf"], k.neg_clr)


class StackedRMSprop(StackedOptimizer):
    """``torch.optim.RMSprop`` (``_single_tensor_rmsprop``): smoothing ``alpha``, ``eps``
    outside the root, optional momentum buffer and centering.

    When only some replicas have momentum, those without it take torch's step without a
    buffer (``addcdiv``), selected per replica.
    """

    name = "rmsprop"

    def _constants(self) -> dict[str, Value]:
        h = self.h
        return {
            **super()._constants(),
            "alpha": h.alpha,
            "one_minus_alpha": 1 - h.alpha,
            "eps": h.eps,
            "momentum": h.momentum,
            "neg_lr": -h.lr,
        }

    def _init_state(self) -> dict[str, list[Tensor]]:
        state = {"square_avg": self.zeros()}
        if not is_const(self.c.momentum, 0.0):
            state["momentum_buffer"] = self.zeros()
        if self.h.centered:
            state["grad_avg"] = self.zeros()
        return state

    def _update(self, params: list[Tensor], grads: list[Tensor], step: int) -> None:
        c, s = self.c, self.state
        grads = self.decayed(params, grads)
        ema_sq_(s["square_avg"], grads, c.alpha, c.one_minus_alpha)
        if self.h.centered:
            lerp_(s["grad_avg"], grads, c.one_minus_alpha)
            avg = list(torch._foreach_addcmul(s["square_avg"], s["grad_avg"], s["grad_avg"], -1))
            torch._foreach_sqrt_(avg)
            torch._foreach_add_(avg, c.eps)
        else:
            avg = sqrt_plus(s["square_avg"], c.eps)
        if "momentum_buffer" not in s:
            addcdiv_(params, grads, avg, c.neg_lr)
            return
        without = np.asarray(self.h.momentum) == 0  # replicas that torch steps without buffer
        if without.any():
            plain = [p.clone() for p in params]
            addcdiv_(plain, grads, avg, c.neg_lr)
        buf = s["momentum_buffer"]
        scale_(buf, c.momentum)
        torch._foreach_addcdiv_(buf, grads, avg)
        add_scaled_(params, buf, c.neg_lr)
        if without.any():
            for p, q, w in zip(params, plain, self.mask_views(without), strict=True):
                p.copy_(torch.where(w, q, p))


class StackedAdagrad(StackedOptimizer):
    """``torch.optim.Adagrad`` (``_single_tensor_adagrad``, dense): ``lr_decay``,
    ``initial_accumulator_value`` (per replica too) and ``eps`` outside the root.
    """

    name = "adagrad"

    def _constants(self) -> dict[str, Value]:
        return {**super()._constants(), "eps": self.h.eps}

    def _init_state(self) -> dict[str, list[Tensor]]:
        return {"sum": self.full(self.h.initial_accumulator_value)}

    def _update(self, params: list[Tensor], grads: list[Tensor], step: int) -> None:
        h = self.h
        grads = self.decayed(params, grads)
        k = self.coefs(neg_clr=-(h.lr / (1 + (float(step) - 1) * h.lr_decay)))
        torch._foreach_addcmul_(self.state["sum"], grads, grads, value=1)
        addcdiv_(params, grads, sqrt_plus(self.state["sum"], self.c.eps), k.neg_clr)


class StackedAdadelta(StackedOptimizer):
    """``torch.optim.Adadelta`` (``_single_tensor_adadelta``): ``eps`` inside both roots."""

    name = "adadelta"

    def _constants(self) -> dict[str, Value]:
        h = self.h
        return {
            **super()._constants(),
            "rho": h.rho,
            "one_minus_rho": 1 - h.rho,
            "eps": h.eps,
            "neg_lr": -h.lr,
        }

    def _init_state(self) -> dict[str, list[Tensor]]:
        return {"square_avg": self.zeros(), "acc_delta": self.zeros()}

    def _update(self, params: list[Tensor], grads: list[Tensor], step: int) -> None:
        c, s = self.c, self.state
        grads = self.decayed(params, grads)
        ema_sq_(s["square_avg"], grads, c.rho, c.one_minus_rho)
        std = list(torch._foreach_add(s["square_avg"], c.eps))
        torch._foreach_sqrt_(std)
        delta = list(torch._foreach_add(s["acc_delta"], c.eps))
        torch._foreach_sqrt_(delta)
        torch._foreach_div_(delta, std)
        torch._foreach_mul_(delta, grads)
        ema_sq_(s["acc_delta"], delta, c.rho, c.one_minus_rho)
        add_scaled_(params, delta, c.neg_lr)


__all__ = [
    "StackedAdadelta",
    "StackedAdagrad",
    "StackedAdam",
    "StackedAdamW",
    "StackedAdamax",
    "StackedNAdam",
    "StackedRAdam",
    "StackedRMSprop",
]
