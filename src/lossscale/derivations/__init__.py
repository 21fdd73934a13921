"""Machine-checked claims: which hyperparameter transformation equals loss x alpha."""

from lossscale.derivations.ledger import (
    COLUMNS,
    CheckResult,
    Claim,
    ClaimContradictedError,
    ClaimsFileError,
    check_claim,
    check_claims,
    claims_table,
    load_claims,
    run_derivations,
)

__all__ = [
    "COLUMNS",
    "CheckResult",
    "Claim",
    "ClaimContradictedError",
    "ClaimsFileError",
    "check_claim",
    "check_claims",
    "claims_table",
    "load_claims",
    "run_derivations",
]
