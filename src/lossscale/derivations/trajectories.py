"""Paired float64 optimizer trajectories on a tiny nonconvex regression problem.

A claim "loss x alpha is equivalent to hyperparameter transformation T" is checked by
running the same ``torch.optim`` class twice from identical parameters:

* run A: the base hyperparameters on the loss multiplied by alpha;
* run B: the hyperparameters transformed by T on the unscaled loss;

and measuring how far apart the two parameter trajectories drift
(:func:`max_rel_deviation`).
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

DTYPE = torch.float64

_TERM = re.compile(r"^(?P<name>[A-Za-z_]\w*)\s*(?P<op>[*/])\s*alpha(?:\s*\^\s*(?P<power>\d+))?$")


@dataclass(frozen=True)
class Problem:
    """Full-batch MSE regression with a one-hidden-layer tanh MLP.

    Targets and the model's output are both multiplied by ``target_scale`` (s), so the
    loss is s^2 times the loss of the unscaled fit and so are its gradients: a small s
    reproduces the tiny-loss, tiny-gradient regime (gradient RMS far below Adam's eps).
    """

    x: torch.Tensor
    y: torch.Tensor
    hidden: int
    target_scale: float

    def loss(self, params: list[torch.Tensor]) -> torch.Tensor:
        """Mean squared error of the scaled model output against the scaled targets."""
        w1, b1, w2, b2 = params
        pred = self.target_scale * (torch.tanh(self.x @ w1.T + b1) @ w2.T + b2)
        return torch.mean((pred - self.y) ** 2)

    def initial_parameters(self, seed: int) -> list[torch.Tensor]:
        """``torch.nn.Linear``-style uniform initialization from a seeded generator."""
        gen = torch.Generator().manual_seed(seed)
        n_in = self.x.shape[1]

        def uniform(shape: tuple[int, ...], fan_in: int) -> torch.Tensor:
            bound = 1.0 / math.sqrt(fan_in)
            return (torch.rand(shape, generator=gen, dtype=DTYPE) * 2 - 1) * bound

        return [
            uniform((self.hidden, n_in), n_in),
            uniform((self.hidden,), n_in),
            uniform((1, self.hidden), self.hidden),
            uniform((1,), self.hidden),
        ]


def make_problem(
    target_scale: float, n: int = 64, n_in: int = 4, hidden: int = 16, seed: int = 0
) -> Problem:
    """A generated regression (a noisy nonlinear teacher), standardized, then scaled."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, n_in, generator=gen, dtype=DTYPE)
    w = torch.randn(n_in, generator=gen, dtype=DTYPE)
    y0 = torch.sin(2.0 * x @ w) + 0.5 * x[:, 0] * x[:, 1]
    y0 = y0 + 0.1 * torch.randn(n, generator=gen, dtype=DTYPE)
    y0 = (y0 - y0.mean()) / y0.std()
    return Problem(x=x, y=target_scale * y0[:, None], hidden=hidden, target_scale=target_scale)


def flat(params: list[torch.Tensor]) -> torch.Tensor:
    """All parameters as one detached vector."""
    return torch.cat([p.detach().reshape(-1) for p in params])


def gradient_rms(problem: Problem, params: list[torch.Tensor]) -> float:
    """Root mean square of the unscaled loss's gradient over all parameter entries."""
    leaves = [p.detach().clone().requires_grad_(True) for p in params]
    grads = torch.autograd.grad(problem.loss(leaves), leaves)
    return float(torch.sqrt(torch.mean(torch.cat([g.reshape(-1) for g in grads]) ** 2)))


def run_trajectory(
    problem: Problem,
    init: list[torch.Tensor],
    optimizer_cls: type[torch.optim.Optimizer],
    hyperparameters: Mapping[str, Any],
    loss_scale: float,
    steps: int,
) -> torch.Tensor:
    """Parameters after each of ``steps`` full-batch steps on ``loss_scale`` x loss.

    Returns a ``(steps + 1, n_params)`` tensor whose row 0 is ``init``.
    """
    params = [p.detach().clone().requires_grad_(True) for p in init]
    optimizer = optimizer_cls(params, **hyperparameters)

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = problem.loss(params) * loss_scale
        loss.backward()
        return loss

    rows = [flat(params)]
    for _ in range(steps):
        optimizer.step(closure)
        rows.append(flat(params))
    return torch.stack(rows)


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


def parse_transformation(text: str) -> tuple[tuple[str, str, int], ...]:
    """Parse ``"none"`` or comma-separated terms ``name*alpha``, ``name/alpha^2``, ...

    Returns ``(name, op, power)`` triples, e.g. ``"eps/alpha"`` -> ``(("eps", "/", 1),)``.
    """
    if text.strip() == "none":
        return ()
    terms = []
    for part in text.split(","):
        match = _TERM.match(part.strip())
        if match is None:
            raise ValueError(
                f"transformation term {part.strip()!r} is not of the form "
                "name*alpha, name/alpha, name*alpha^k or name/alpha^k (or 'none')"
            )
        terms.append((match["name"], match["op"], int(match["power"] or 1)))
    names = [name for name, _, _ in terms]
    if len(set(names)) != len(names):
        raise ValueError(f"transformation {text!r} names a hyperparameter twice")
    return tuple(terms)


def default_hyperparameter(optimizer_cls: Callable[..., Any], name: str) -> Any:
    """The default value of keyword ``name`` in the optimizer's constructor."""
    param = inspect.signature(optimizer_cls).parameters.get(name)
    if param is None or param.default is inspect.Parameter.empty:
        raise ValueError(f"{optimizer_cls.__name__} has no hyperparameter {name!r} with a default")
    return param.default


def transform_hyperparameters(
    optimizer_cls: Callable[..., Any],
    base: Mapping[str, Any],
    transformation: str,
    alpha: float,
) -> dict[str, Any]:
    """``base`` with each hyperparameter named in ``transformation`` scaled by alpha^±k.

    A hyperparameter missing from ``base`` starts from the optimizer's default.
    """
    out = dict(base)
    for name, op, power in parse_transformation(transformation):
        value = out.get(name, default_hyperparameter(optimizer_cls, name))
        factor = alpha**power
        out[name] = value * factor if op == "*" else value / factor
    return out
