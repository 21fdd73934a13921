"""The claim ledger: load expected verdicts, check them numerically, build the table.

The claims and their expected verdicts live in one reviewed data file,
``claims.yaml`` beside this module; adding a claim is a data-only change.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import yaml

from lossscale.derivations.trajectories import (
    displacement,
    gradient_rms,
    make_problem,
    max_rel_deviation,
    run_trajectory,
    transform_hyperparameters,
)
from lossscale.io import write_csv
from lossscale.tables import CLAIM_COLUMNS

METHOD = "float64 trajectory"
COLUMNS = list(CLAIM_COLUMNS)
OUTCOMES = ("holds", "fails")
INIT_SEED = 0

_REQUIRED = {"id", "optimizer", "transformation", "alphas", "target_scale", "expected"}
_OPTIONAL = {"hyperparameters", "note"}

log = logging.getLogger("lossscale.derivations")


class ClaimsFileError(ValueError):
    """The claims file is malformed; the message names the claim and the key."""


class ClaimContradictedError(RuntimeError):
    """At least one claim's observed verdict differs from its expected verdict."""

    def __init__(self, contradicted: Sequence[CheckResult]) -> None:
        self.contradicted = list(contradicted)
        lines = [f"{len(self.contradicted)} derivation check(s) contradicted:"]
        lines += [f"  {r.describe()}" for r in self.contradicted]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class Claim:
    """'loss x alpha is equivalent to ``transformation``' for one optimizer."""

    id: str
    optimizer: str
    transformation: str
    alphas: tuple[float, ...]
    target_scale: float
    expected: str
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""

    @property
    def optimizer_cls(self) -> type[torch.optim.Optimizer]:
        """The ``torch.optim`` class named by ``optimizer``."""
        return getattr(torch.optim, self.optimizer)


@dataclass(frozen=True)
class CheckResult:
    """One (claim, alpha) check."""

    claim: Claim
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

    def describe(self) -> str:
        """One line naming the claim, alpha, verdicts, deviation and tolerance."""
        return (
            f"{self.claim.id} (alpha={self.alpha:g}): observed {self.observed}, "
            f"expected {self.claim.expected}; max_rel_deviation {self.max_rel_deviation:.3e} "
            f"vs tolerance {self.tolerance:.1e}"
        )

    def row(self) -> dict[str, Any]:
        """The result as one row of ``claims.csv``."""
        return {
            "claim_id": self.claim.id,
            "optimizer": self.claim.optimizer,
            "transformation": self.claim.transformation,
            "method": METHOD,
            "alpha": self.alpha,
            "expected": self.claim.expected,
            "observed": self.observed,
            "max_rel_deviation": self.max_rel_deviation,
            "tolerance": self.tolerance,
            "verdict": self.verdict,
        }


def default_claims_path() -> Path:
    """The reviewed claims file shipped with the package."""
    return Path(str(files("lossscale.derivations") / "claims.yaml"))


def _positive_number(value: Any, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ClaimsFileError(f"{where}: {value!r} is not a number") from None
    if not (math.isfinite(number) and number > 0):
        raise ClaimsFileError(f"{where}: {value!r} is not a finite number > 0")
    return number


def _parse_claim(entry: Any, index: int) -> Claim:
    if not isinstance(entry, dict):
        raise ClaimsFileError(f"claims[{index}]: expected a mapping, got {entry!r}")
    cid = str(entry.get("id", f"claims[{index}]"))
    missing = sorted(_REQUIRED - entry.keys())
    unknown = sorted(entry.keys() - _REQUIRED - _OPTIONAL)
    if missing or unknown:
        raise ClaimsFileError(f"claim {cid}: missing keys {missing}, unknown keys {unknown}")
    optimizer_cls = getattr(torch.optim, str(entry["optimizer"]), None)
    if not (isinstance(optimizer_cls, type) and issubclass(optimizer_cls, torch.optim.Optimizer)):
        raise ClaimsFileError(f"claim {cid}: optimizer {entry['optimizer']!r} not in torch.optim")
    if entry["expected"] not in OUTCOMES:
        raise ClaimsFileError(f"claim {cid}: expected {entry['expected']!r} not in {OUTCOMES}")
    alphas = entry["alphas"]
    if not isinstance(alphas, list) or not alphas:
        raise ClaimsFileError(f"claim {cid}: alphas must be a non-empty list")
    hyperparameters = entry.get("hyperparameters") or {}
    if not isinstance(hyperparameters, dict):
        raise ClaimsFileError(f"claim {cid}: hyperparameters must be a mapping")
    accepted = inspect.signature(optimizer_cls).parameters.keys() - {"params"}
    if hyperparameters.keys() - accepted:
        unknown_hp = sorted(hyperparameters.keys() - accepted)
        raise ClaimsFileError(
            f"claim {cid}: {entry['optimizer']} has no hyperparameters {unknown_hp}"
        )
    text = sorted(name for name, value in hyperparameters.items() if isinstance(value, str))
    if text:
        raise ClaimsFileError(
            f"claim {cid}: hyperparameters {text} are text; write numbers as 1.0e-7, not 1e-7"
        )
    try:
        transform_hyperparameters(optimizer_cls, hyperparameters, str(entry["transformation"]), 2.0)
    except (ValueError, TypeError) as err:
        raise ClaimsFileError(f"claim {cid}: transformation: {err}") from None
    return Claim(
        id=cid,
        optimizer=str(entry["optimizer"]),
        transformation=str(entry["transformation"]),
        alphas=tuple(_positive_number(a, f"claim {cid}: alphas") for a in alphas),
        target_scale=_positive_number(entry["target_scale"], f"claim {cid}: target_scale"),
        expected=entry["expected"],
        hyperparameters=hyperparameters,
        note=str(entry.get("note", "")),
    )


def load_claims(path: str | Path | None = None) -> list[Claim]:
    """Read and validate the claims file (default: the packaged ``claims.yaml``)."""
    path = default_claims_path() if path is None else Path(path)
    with open(path) as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, dict) or not isinstance(data.get("claims"), list):
        raise ClaimsFileError(f"{path}: expected a top-level 'claims:' list")
    claims = [_parse_claim(entry, i) for i, entry in enumerate(data["claims"])]
    ids = [c.id for c in claims]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise ClaimsFileError(f"{path}: duplicated claim ids {duplicated}")
    return claims


def check_claim(claim: Claim, steps: int, tolerance: float) -> list[CheckResult]:
    """Run the paired trajectories of ``claim`` for each of its alphas."""
    problem = make_problem(claim.target_scale)
    init = problem.initial_parameters(INIT_SEED)
    rms = gradient_rms(problem, init)
    results = []
    for alpha in claim.alphas:
        hp_b = transform_hyperparameters(
            claim.optimizer_cls, claim.hyperparameters, claim.transformation, alpha
        )
        traj_a = run_trajectory(
            problem, init, claim.optimizer_cls, claim.hyperparameters, alpha, steps
        )
        traj_b = run_trajectory(problem, init, claim.optimizer_cls, hp_b, 1.0, steps)
        results.append(
            CheckResult(
                claim=claim,
                alpha=alpha,
                max_rel_deviation=max_rel_deviation(traj_a, traj_b),
                tolerance=tolerance,
                displacement=displacement(traj_b),
                gradient_rms=rms,
            )
        )
    return results


def _log_claim(results: Sequence[CheckResult]) -> None:
    claim = results[0].claim
    per_alpha = "; ".join(
        f"alpha={r.alpha:g} dev={r.max_rel_deviation:.2e} moved={r.displacement:.1e} "
        f"{r.observed} ({r.verdict})"
        for r in results
    )
    log.info(
        "%s: %s loss x alpha == %s, expected %s, grad RMS %.1e: %s",
        claim.id,
        claim.optimizer,
        claim.transformation,
        claim.expected,
        results[0].gradient_rms,
        per_alpha,
    )


def check_claims(claims: Sequence[Claim], steps: int, tolerance: float) -> list[CheckResult]:
    """Check every claim, logging one line per claim."""
    results = []
    for claim in claims:
        claim_results = check_claim(claim, steps, tolerance)
        _log_claim(claim_results)
        results.extend(claim_results)
    return results


def claims_table(results: Sequence[CheckResult]) -> pd.DataFrame:
    """One row per (claim, alpha), with exactly the columns of ``claims.csv``."""
    return pd.DataFrame([r.row() for r in results], columns=COLUMNS)


def raise_if_contradicted(results: Sequence[CheckResult]) -> None:
    """Log and raise :class:`ClaimContradictedError` if any check is contradicted."""
    contradicted = [r for r in results if r.verdict == "contradicted"]
    for r in contradicted:
        log.error("contradicted: %s", r.describe())
    if contradicted:
        raise ClaimContradictedError(contradicted)


def configure_torch(threads: int) -> None:
    """Fixed thread count and deterministic algorithms, for byte-identical results."""
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def run_derivations(
    output: str | Path,
    steps: int,
    tolerance: float,
    threads: int,
    claims_path: str | Path | None = None,
) -> pd.DataFrame:
    """Check all claims and write ``claims.csv``; raise (writing nothing) on a contradiction."""
    configure_torch(threads)
    results = check_claims(load_claims(claims_path), steps, tolerance)
    raise_if_contradicted(results)
    table = claims_table(results)
    write_csv(table, output)
    log.info("all %d checks confirmed; wrote %s", len(table), output)
    return table
