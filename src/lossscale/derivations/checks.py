"""Numeric checks of one claim: paired trajectories in float64, and bitwise in float32.

In float64 a claim holds when the two runs agree within the configured tolerance. For a
claim's ``bitwise`` alphas both runs compute in float32: a power-of-two alpha must give
identical bits (tolerance 0; scaling by 2^k is exact unless it over- or underflows), any
other alpha is held to a float32 tolerance, so its row reports the size of the round-off.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from lossscale.derivations.claims import Claim
from lossscale.derivations.problems import Problem, make_problem
from lossscale.derivations.trajectories import (
    displacement,
    gradient_rms,
    max_rel_deviation,
    run_trajectory,
)
from lossscale.derivations.transforms import transform
from lossscale.exact import is_power_of_two
from lossscale.tables import BITWISE, TRAJECTORY

INIT_SEED = 0
DTYPES = {TRAJECTORY: torch.float64, BITWISE: torch.float32}


def describe(row: dict[str, Any]) -> str:
    """One line naming a row's claim, alpha, method, verdicts, deviation and tolerance."""
    alpha = f"{row['alpha']:g}" if isinstance(row["alpha"], float | int) else row["alpha"]
    return (
        f"{row['claim_id']} (alpha={alpha}, {row['method']}): observed {row['observed']}, "
        f"expected {row['expected']}; max_rel_deviation {row['max_rel_deviation']:.3e} "
        f"vs tolerance {row['tolerance']:.1e}"
    )


@dataclass(frozen=True)
class CheckResult:
    """One (claim, method, alpha) check."""

    claim: Claim
    method: str
    alpha: float
    max_rel_deviation: float
    tolerance: float
    displacement: float
    gradient_rms: float

    @property
    def observed(self) -> str:
        """``holds`` iff the deviation is within tolerance (NaN and inf fail)."""
        return "holds" if self.max_rel_deviation <= self.tolerance else "fails"

    @property
    def verdict(self) -> str:
        """``confirmed`` when the observation matches the expectation."""
        return "confirmed" if self.observed == self.claim.expected else "contradicted"

    def row(self) -> dict[str, Any]:
        """The result as one row of ``claims.csv``."""
        return {
            "claim_id": self.claim.id,
            "optimizer": self.claim.optimizer,
            "transformation": self.claim.transformation,
            "method": self.method,
            "alpha": self.alpha,
            "expected": self.claim.expected,
            "observed": self.observed,
            "max_rel_deviation": self.max_rel_deviation,
            "tolerance": self.tolerance,
            "verdict": self.verdict,
        }

    def describe(self) -> str:
        """One line naming the claim, alpha, method, verdicts, deviation and tolerance."""
        return describe(self.row())

    def summary(self) -> str:
        """The check in a few words, with the gradient scale and how far the runs moved."""
        return (
            f"{self.method} alpha={self.alpha:g} grad RMS {self.gradient_rms:.1e} "
            f"dev={self.max_rel_deviation:.2e} moved={self.displacement:.1e} "
            f"{self.observed} ({self.verdict})"
        )


def _tolerance(method: str, alpha: float, tolerance: float, float32_tolerance: float) -> float:
    """float64: ``tolerance``; float32: 0 (identical bits) for a power-of-two alpha."""
    if method == TRAJECTORY:
        return tolerance
    return 0.0 if is_power_of_two(alpha) else float32_tolerance


def problem_for(claim: Claim, alpha: float, dtype: torch.dtype) -> Problem:
    """The claim's problem at ``alpha``.

    With ``scaled_gradient_rms`` r, the target scale s is chosen so that the scaled run's
    initial gradient RMS, alpha * s^2 * RMS(s = 1), equals r (its knee when r is eps).
    """
    if claim.scaled_gradient_rms is None:
        return make_problem(claim.problem, claim.target_scale, dtype)
    unit = make_problem(claim.problem, 1.0)
    rms = gradient_rms(unit, unit.initial_parameters(INIT_SEED), claim.training.loss)
    scale = math.sqrt(claim.scaled_gradient_rms / (alpha * rms))
    return make_problem(claim.problem, scale, dtype)


def _run_a(
    claim: Claim, problem: Problem, alpha: float, steps: int, cache: dict[tuple, torch.Tensor]
) -> torch.Tensor:
    """Run A (base settings on loss x alpha), kept in ``cache`` for the counter-checks."""
    key = (claim.optimizer, repr(sorted(claim.hyperparameters.items())), claim.training)
    key += (problem.kind, problem.target_scale, problem.x.dtype, alpha, steps)
    if key not in cache:
        init = problem.initial_parameters(INIT_SEED)
        cache[key] = run_trajectory(
            problem, init, claim.optimizer_cls, claim.hyperparameters, alpha, steps, claim.training
        )
    return cache[key]


def check_pair(
    claim: Claim, method: str, alpha: float, steps: int, cache: dict[tuple, torch.Tensor]
) -> tuple[float, float, float]:
    """(max relative deviation of run A from run B, B's displacement, gradient RMS)."""
    problem = problem_for(claim, alpha, DTYPES[method])
    init = problem.initial_parameters(INIT_SEED)
    hp_b, training_b = transform(
        claim.optimizer_cls, claim.hyperparameters, claim.training, claim.transformation, alpha
    )
    traj_b = run_trajectory(problem, init, claim.optimizer_cls, hp_b, 1.0, steps, training_b)
    deviation = max_rel_deviation(_run_a(claim, problem, alpha, steps, cache), traj_b)
    return deviation, displacement(traj_b), gradient_rms(problem, init, claim.training.loss)


def check_claim(
    claim: Claim,
    steps: int,
    tolerance: float,
    float32_tolerance: float,
    cache: dict[tuple, torch.Tensor] | None = None,
) -> list[CheckResult]:
    """Check ``claim`` at its float64 alphas, then at its bitwise (float32) alphas.

    The runs take ``steps`` steps, or the claim's ``min_steps`` if that is more.

    ``cache`` keeps the scaled runs for the claim's counter-checks, which share them.
    """
    cache = {} if cache is None else cache
    steps = max(steps, claim.min_steps)
    results = []
    for method, alphas in ((TRAJECTORY, claim.alphas), (BITWISE, claim.bitwise)):
        for alpha in alphas:
            deviation, moved, rms = check_pair(claim, method, alpha, steps, cache)
            tol = _tolerance(method, alpha, tolerance, float32_tolerance)
            results.append(CheckResult(claim, method, alpha, deviation, tol, moved, rms))
    return results


def check_family(
    family: Sequence[Claim], steps: int, tolerance: float, float32_tolerance: float
) -> list[list[CheckResult]]:
    """Check a claim and its counter-checks, sharing their scaled runs."""
    cache: dict[tuple, torch.Tensor] = {}
    return [check_claim(c, steps, tolerance, float32_tolerance, cache) for c in family]
