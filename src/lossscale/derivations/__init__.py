"""Machine-checked claims: which hyperparameter transformation equals loss x alpha."""

from lossscale.derivations.checks import CheckResult, check_claim
from lossscale.derivations.claims import (
    Claim,
    ClaimsFileError,
    Ledger,
    default_claims_dir,
    load_claims,
    load_ledger,
)
from lossscale.derivations.ledger import (
    COLUMNS,
    ClaimContradictedError,
    check_claims,
    run_derivations,
)

__all__ = [
    "COLUMNS",
    "CheckResult",
    "Claim",
    "ClaimContradictedError",
    "ClaimsFileError",
    "Ledger",
    "check_claim",
    "check_claims",
    "default_claims_dir",
    "load_claims",
    "load_ledger",
    "run_derivations",
]
