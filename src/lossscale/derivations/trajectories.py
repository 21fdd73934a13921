"""Paired optimizer trajectories: the numerical test of one claim at one alpha.

A claim "loss x alpha is equivalent to transformation T" is checked by running the same
optimizer twice from identical parameters:

* run A: the base settings on the data loss multiplied by alpha;
* run B: the settings transformed by T on the unscaled data loss;

and measuring how far apart the two parameter trajectories drift
(:func:`max_rel_deviation`). Both runs compute in the problem's dtype, which is also
the default dtype while they run, so an optimizer's scalar state (ASGD's eta, NAdam's
mu product) is kept in that precision too.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from lossscale.derivations.problems import LOSSES, Problem

#: The constant ``torch.nn.utils.clip_grad_norm_`` adds to the gradient norm.
TORCH_CLIP_EPS = 1e-6


@dataclass(frozen=True)
class Training:
    """How a run turns the data loss into gradients, besides the optimizer.

    ``loss``: the data loss (``None``: the problem's first, MSE or plain CE);
    ``l2``: an explicit penalty ``l2 * sum of squared parameters`` added to the (scaled)
    data loss; ``clip_grad_norm`` / ``clip_grad_value``: gradient clipping thresholds
    applied after backward; ``clip_grad_norm_eps``: the constant added to the norm in
    the clipping coefficient ``c / (norm + eps)``, torch's 1e-6 by default (any other
    value uses the same formula written out here).
    """

    loss: str | None = None
    l2: float = 0.0
    clip_grad_norm: float | None = None
    clip_grad_norm_eps: float = TORCH_CLIP_EPS
    clip_grad_value: float | None = None

    def data_loss(self, problem: Problem) -> str:
        """The data loss's name for ``problem``."""
        family = "classification" if problem.kind == "classification" else "regression"
        return self.loss or LOSSES[family][0]


@contextmanager
def default_dtype(dtype: torch.dtype) -> Iterator[None]:
    """Make ``dtype`` torch's default dtype inside the block."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def clip_by_norm(grads: list[torch.Tensor], max_norm: float, eps: float) -> None:
    """Scale ``grads`` by ``min(1, max_norm / (norm + eps))``: torch's formula, any eps."""
    total = torch.nn.utils.get_total_norm(grads)
    coefficient = torch.clamp(max_norm / (total + eps), max=1.0)
    for g in grads:
        g.mul_(coefficient)


def clip_grad_norm(params: list[torch.Tensor], max_norm: float, eps: float) -> None:
    """``torch.nn.utils.clip_grad_norm_`` itself for torch's eps, else :func:`clip_by_norm`."""
    if eps == TORCH_CLIP_EPS:
        torch.nn.utils.clip_grad_norm_(params, max_norm)
    else:
        clip_by_norm([p.grad for p in params if p.grad is not None], max_norm, eps)


def _apply_training(params: list[torch.Tensor], training: Training) -> None:
    if training.clip_grad_norm is not None:
        clip_grad_norm(params, training.clip_grad_norm, training.clip_grad_norm_eps)
    if training.clip_grad_value is not None:
        torch.nn.utils.clip_grad_value_(params, training.clip_grad_value)


def run_trajectory(
    problem: Problem,
    init: list[torch.Tensor],
    optimizer_cls: type[torch.optim.Optimizer],
    hyperparameters: Mapping[str, Any],
    loss_scale: float,
    steps: int,
    training: Training | None = None,
) -> torch.Tensor:
    """Parameters after each of ``steps`` full-batch steps on ``loss_scale`` x data loss.

    Returns a ``(steps + 1, n_params)`` tensor whose row 0 is ``init``.
    """
    training = training or Training()
    kind = training.data_loss(problem)
    with default_dtype(problem.x.dtype):
        params = [p.detach().clone().requires_grad_(True) for p in init]
        optimizer = optimizer_cls(params, **hyperparameters)

        def closure() -> torch.Tensor:
            optimizer.zero_grad(set_to_none=True)
            loss = problem.loss(params, kind) * loss_scale
            if training.l2:
                loss = loss + training.l2 * sum(torch.sum(p * p) for p in params)
            loss.backward()
            _apply_training(params, training)
            return loss

        rows = [flat(params)]
        for _ in range(steps):
            optimizer.step(closure)
            rows.append(flat(params))
    return torch.stack(rows)


def flat(params: list[torch.Tensor]) -> torch.Tensor:
    """All parameters as one detached vector."""
    return torch.cat([p.detach().reshape(-1) for p in params])


def gradient_rms(problem: Problem, params: list[torch.Tensor], loss: str | None = None) -> float:
    """Root mean square of the unscaled data loss's gradient over all parameter entries."""
    leaves = [p.detach().clone().requires_grad_(True) for p in params]
    kind = Training(loss=loss).data_loss(problem)
    grads = torch.autograd.grad(problem.loss(leaves, kind), leaves)
    return float(torch.sqrt(torch.mean(torch.cat([g.reshape(-1) for g in grads]) ** 2)))


def max_rel_deviation(traj_a: torch.Tensor, traj_b: torch.Tensor) -> float:
    """Maximum relative deviation of trajectory A from trajectory B.

    ``max over steps t of ||theta_A(t) - theta_B(t)||_inf / ||theta_B(t)||_inf``, with
    theta(t) all parameters after step t. Non-finite parameters give ``inf``.
    """
    if not (torch.isfinite(traj_a).all() and torch.isfinite(traj_b).all()):
        return math.inf
    num = (traj_a - traj_b).abs().amax(dim=1)
    den = traj_b.abs().amax(dim=1)
    return float((num / den).max())


def displacement(traj: torch.Tensor) -> float:
    """How far a trajectory moved: ``max_t ||theta(t) - theta(0)||_inf / ||theta(0)||_inf``.

    A check is informative only when this is far above its tolerance.
    """
    return float((traj - traj[0]).abs().amax() / traj[0].abs().amax())
