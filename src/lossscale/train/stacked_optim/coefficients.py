"""Per-step coefficients of the stacked optimizers, computed as ``torch.optim`` does.

A hyperparameter is a Python float when every replica shares it, else a float64 array of
R values (:data:`Value`). Coefficients use ``torch.optim``'s scalar formulas, with powers
taken replica by replica by Python's ``**``, so that each replica gets the bits of a
lone run.
"""

from __future__ import annotations

import numpy as np

#: One hyperparameter: a float shared by every replica, or R float64 values.
Value = float | np.ndarray


def collapse(x: float | np.ndarray) -> Value:
    """``x`` as a float when every replica has the same value, else as a float64 array."""
    arr = np.asarray(x, dtype=np.float64)
    first = arr.flat[0]
    if arr.ndim == 0 or bool(np.all(arr == first)):
        return float(first)
    return arr


def power(base: Value, exponent: Value) -> Value:
    """``base ** exponent`` by Python's float power, replica by replica.

    ``torch.optim`` computes its scalar coefficients with Python floats; NumPy's
    vectorized power may differ from C's ``pow`` in the last bit, so per-replica values
    are raised one by one (R scalar operations, no tensor work) to keep replicas bitwise
    equal to lone runs.
    """
    if isinstance(base, float | int) and isinstance(exponent, float | int):
        return float(base) ** float(exponent)
    pairs = np.broadcast(np.asarray(base, np.float64), np.asarray(exponent, np.float64))
    return np.array([_pow(float(b), float(e)) for b, e in pairs])


def _pow(base: float, exponent: float) -> float:
    """Python's ``base ** exponent``, but NaN where that would be a complex number."""
    return base**exponent if base >= 0 or exponent.is_integer() else float("nan")


def bias_correction(beta: Value, step: int) -> Value:
    """``1 - beta ** step``, as every Adam-type ``torch.optim`` function computes it."""
    return 1 - power(beta, float(step))
