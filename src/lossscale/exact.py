"""When multiplying by a loss scale is exact in floating point."""

from __future__ import annotations

import math


def is_power_of_two(alpha: float | None) -> bool:
    """Whether ``alpha`` is 2^k for an integer k: scaling by it changes only the
    exponent, so it is exact in floating point (no rounding, barring under/overflow)."""
    return alpha is not None and alpha > 0 and math.frexp(alpha)[0] == 0.5
