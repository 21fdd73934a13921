"""Symbolic (sympy) proofs that loss x alpha equals a hyperparameter transformation.

Entry point: :func:`check_symbolic`, which takes the raw ``method: symbolic`` claim
mappings (``claims/symbolic.yaml``) and returns the ledger rows and LaTeX snippets.
"""

from lossscale.derivations.symbolic.claims import (
    SymbolicClaim,
    SymbolicClaimError,
    check_symbolic,
    parse_claims,
)
from lossscale.derivations.symbolic.engine import SAMPLE_POINT
from lossscale.derivations.symbolic.rules import RULES

__all__ = [
    "RULES",
    "SAMPLE_POINT",
    "SymbolicClaim",
    "SymbolicClaimError",
    "check_symbolic",
    "parse_claims",
]
