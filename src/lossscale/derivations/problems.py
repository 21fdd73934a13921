"""The small generated problems the derivation checks train on.

* ``regression``: full-batch MSE of a one-hidden-layer tanh MLP on a noisy nonlinear
  teacher; model output and targets are multiplied by ``target_scale`` (s), so the loss
  and its gradients are s^2 times those of the unscaled fit.
* ``regression-nobias``: the same without biases (every parameter a matrix, as Muon needs).
* ``classification``: three Gaussian classes, a tanh MLP with three logits, and a choice
  of loss: plain, class-weighted or focal cross-entropy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

PROBLEMS = ("regression", "regression-nobias", "classification")
LOSSES = {"regression": ("mse",), "classification": ("ce", "class_weighted_ce", "focal")}
#: Per-class weights of ``class_weighted_ce`` (torch's weighted mean: sum w_y l / sum w_y).
CLASS_WEIGHTS = (1.0, 2.0, 4.0)
#: Focusing parameter of the focal loss (Lin et al. 2017): mean of (1 - p_y)^gamma * CE.
FOCAL_GAMMA = 2.0


@dataclass(frozen=True)
class Problem:
    """Full-batch data and a one-hidden-layer tanh MLP given as a flat parameter list."""

    kind: str
    x: torch.Tensor
    y: torch.Tensor
    hidden: int
    n_out: int
    bias: bool
    target_scale: float = 1.0

    def forward(self, params: list[torch.Tensor]) -> torch.Tensor:
        """The model's output (scaled by ``target_scale``) for every example."""
        if self.bias:
            w1, b1, w2, b2 = params
            return self.target_scale * (torch.tanh(self.x @ w1.T + b1) @ w2.T + b2)
        w1, w2 = params
        return self.target_scale * (torch.tanh(self.x @ w1.T) @ w2.T)

    def loss(self, params: list[torch.Tensor], kind: str = "mse") -> torch.Tensor:
        """The data loss ``kind`` (one of ``LOSSES`` for this problem) at ``params``."""
        family = "classification" if self.kind == "classification" else "regression"
        if kind not in LOSSES[family]:
            raise ValueError(f"loss {kind!r} is not one of {LOSSES[family]} ({self.kind})")
        out = self.forward(params)
        if kind == "mse":
            return torch.mean((out - self.y) ** 2)
        if kind == "ce":
            return F.cross_entropy(out, self.y)
        if kind == "class_weighted_ce":
            weight = torch.tensor(CLASS_WEIGHTS, dtype=out.dtype)
            return F.cross_entropy(out, self.y, weight=weight)
        log_p = F.log_softmax(out, dim=1).gather(1, self.y[:, None])[:, 0]
        return torch.mean(-((1 - log_p.exp()) ** FOCAL_GAMMA) * log_p)

    def initial_parameters(self, seed: int) -> list[torch.Tensor]:
        """``torch.nn.Linear``-style uniform initialization from a seeded generator."""
        gen = torch.Generator().manual_seed(seed)
        n_in = self.x.shape[1]

        def uniform(shape: tuple[int, ...], fan_in: int) -> torch.Tensor:
            bound = 1.0 / math.sqrt(fan_in)
            draw = torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1
            return (draw * bound).to(self.x.dtype)

        w1 = uniform((self.hidden, n_in), n_in)
        b1 = uniform((self.hidden,), n_in)
        w2 = uniform((self.n_out, self.hidden), self.hidden)
        b2 = uniform((self.n_out,), self.hidden)
        return [w1, b1, w2, b2] if self.bias else [w1, w2]


def _regression_data(n: int, n_in: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(n, n_in, generator=gen, dtype=torch.float64)
    w = torch.randn(n_in, generator=gen, dtype=torch.float64)
    y = torch.sin(2.0 * x @ w) + 0.5 * x[:, 0] * x[:, 1]
    y = y + 0.1 * torch.randn(n, generator=gen, dtype=torch.float64)
    return x, ((y - y.mean()) / y.std())[:, None]


def _classification_data(
    n: int, n_in: int, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Three overlapping Gaussian classes of unequal size (1/2, 1/3, 1/6 of the data)."""
    centers = 1.5 * torch.randn(3, n_in, generator=gen, dtype=torch.float64)
    y = torch.tensor([0] * (n // 2) + [1] * (n // 3), dtype=torch.long)
    y = torch.cat([y, torch.full((n - len(y),), 2, dtype=torch.long)])
    x = centers[y] + torch.randn(n, n_in, generator=gen, dtype=torch.float64)
    return x, y


def make_problem(
    kind: str = "regression",
    target_scale: float = 1.0,
    dtype: torch.dtype = torch.float64,
    n: int = 64,
    n_in: int = 4,
    hidden: int = 16,
    seed: int = 0,
) -> Problem:
    """Problem ``kind`` (one of ``PROBLEMS``), generated in float64, then cast to ``dtype``."""
    if kind not in PROBLEMS:
        raise ValueError(f"problem {kind!r} is not one of {PROBLEMS}")
    gen = torch.Generator().manual_seed(seed)
    if kind == "classification":
        if target_scale != 1.0:
            raise ValueError("the classification problem has no target scale")
        x, y = _classification_data(n, n_in, gen)
        return Problem(kind, x.to(dtype), y, hidden, n_out=3, bias=True)
    x, y = _regression_data(n, n_in, gen)
    return Problem(
        kind,
        x.to(dtype),
        (target_scale * y).to(dtype),
        hidden,
        n_out=1,
        bias=kind == "regression",
        target_scale=target_scale,
    )
