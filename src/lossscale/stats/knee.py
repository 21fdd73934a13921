"""The eps knee: the loss scale from which an eps-limited optimizer trains.

Adam-type updates are ``lr * m / (sqrt(v) + eps)``: with a gradient RMS far below eps
the update is ``lr * m / eps`` and barely moves; multiplying the loss by alpha lifts the
gradient RMS above eps. The predicted knee is ``alpha* = eps / (gradient RMS at
initialization)``. It is measured three ways:

- by the outcome: where the final training metric against alpha falls halfway from its
  initial value to its value at the largest alpha (this depends on the step budget as
  well as on eps);
- by the update: where the RMS of the applied update reaches half its value at the
  largest alpha (where ``m / (sqrt(v) + eps)`` has saturated), for the first update and
  for the mean update of the run. For one coordinate, ``|g| / (|g| + eps)`` is one half
  exactly where ``alpha |g| = eps``, so this measures eps against the gradient directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from lossscale.stats.load import final_rows
from lossscale.study.selections import EPS_IN_DENOMINATOR
from lossscale.study.selections import KNEE_SETTINGS as SETTINGS
from lossscale.tables import CELL, KNEE_COLUMNS

#: A cell needs alpha = 1 (the gradient RMS at init) and this many alphas.
MIN_ALPHAS = 3
#: No bend when the curve falls by less than this fraction of the initial metric.
FLAT = 0.1
#: The update has saturated at the largest alpha unless it is this many times the update
#: at the second largest.
SATURATED = 1.5
#: The training-table columns the knee reads.
READ_COLUMNS = ("alpha", "seed", "step", "train_metric", "grad_rms", "update_rms", "diverged")


def crossing(alphas: Sequence[float], values: Sequence[float], level: float) -> tuple[float, str]:
    """The smallest alpha whose value is at or below ``level``, interpolated linearly in
    log alpha with the previous alpha, and how it is censored: ``below`` (already the
    first alpha: returns it, an upper bound), ``above`` (none: returns the last alpha,
    a lower bound), else ``""``. ``alphas`` ascend; ``values`` are finite."""
    for i, value in enumerate(values):
        if value <= level:
            if i == 0:
                return float(alphas[0]), "below"
            lo, hi = np.log(alphas[i - 1]), np.log(alphas[i])
            frac = (values[i - 1] - level) / (values[i - 1] - value)
            return float(np.exp(lo + frac * (hi - lo))), ""
    return float(alphas[-1]), "above"


def agrees(predicted: float, measured: float, censored: str, factor: float) -> bool | None:
    """Whether the prediction is within ``factor`` of the measured knee (for a censored
    knee: on the side of its bound); None for a flat curve."""
    if censored == "flat":
        return None
    if censored == "below":
        return bool(predicted <= factor * measured)
    if censored == "above":
        return bool(predicted >= measured / factor)
    return bool(predicted / factor <= measured <= factor * predicted)


def update_knee(update: pd.Series) -> tuple[float, str]:
    """Where the mean update RMS against alpha (``update`` indexed by ascending alpha)
    first reaches half its value at the largest alpha, and how it is censored (as in
    :func:`crossing`; ``flat`` without a positive value at the largest alpha; ``above``,
    with the largest alpha as a lower bound, while the update still grows by more than
    ``SATURATED`` from the second largest alpha to the largest: then the largest alpha's
    update is not the saturated one the level is half of)."""
    update = update.dropna()
    if update.empty or not update.iloc[-1] > 0:
        return np.nan, "flat"
    alphas = update.index.to_numpy()
    if update.size > 1 and update.iloc[-1] > SATURATED * update.iloc[-2]:
        return float(alphas[-1]), "above"
    return crossing(alphas, -update.to_numpy(), -update.iloc[-1] / 2)


def update_curves(cell: pd.DataFrame) -> dict[str, pd.Series]:
    """Mean update RMS per alpha over the non-divergent replicas: of the first update
    (``first``) and averaged over the run's updates (``run``)."""
    live = cell[~cell["diverged"]]
    first = live[live["step"] == 0].groupby("alpha")["update_rms"].mean()
    per_replica = live.groupby(["alpha", "seed"])["update_rms"].mean()
    run = per_replica.groupby("alpha").mean()
    alphas = sorted(set(cell["alpha"]))
    return {"first": first.reindex(alphas), "run": run.reindex(alphas)}


def cell_knee(cell: pd.DataFrame, eps: float, factor: float) -> dict:
    """The knee row of one cell's training history (every recorded step)."""
    init = cell[cell["step"] == 0]
    grad_rms_init = float(init.loc[init["alpha"] == 1.0, "grad_rms"].mean())
    start = float(init["train_metric"].mean())
    final = final_rows(cell)
    curve = final["train_metric"].where(~final["diverged"]).groupby(final["alpha"]).mean().dropna()
    if curve.empty or not start - curve.iloc[-1] >= FLAT * start:
        measured, censored = np.nan, "flat"
    else:
        level = (start + curve.iloc[-1]) / 2
        measured, censored = crossing(curve.index.to_numpy(), curve.to_numpy(), level)
    with np.errstate(divide="ignore", invalid="ignore"):  # eps or gradient RMS 0
        predicted = float(np.float64(eps) / grad_rms_init)
        ratio = float(np.float64(measured) / predicted)
    by_update = {}
    for name, series in update_curves(cell).items():
        knee, how = update_knee(series)
        by_update |= {
            f"update_knee_{name}": knee,
            f"update_{name}_censored": how,
            f"update_{name}_agrees": agrees(predicted, knee, how, factor),
        }
    return by_update | {
        "eps": eps,
        "grad_rms_init": grad_rms_init,
        "predicted_knee": predicted,
        "measured_knee": measured,
        "censored": censored,
        "ratio": ratio,
        "factor": factor,
        "agrees": agrees(predicted, measured, censored, factor),
    }


def knee_table(
    histories: Iterable[pd.DataFrame], eps: Mapping[str, float], factor: float
) -> pd.DataFrame:
    """The knee of every qualifying cell in ``histories`` (training tables, e.g. one per
    job): an ``EPS_IN_DENOMINATOR`` optimizer at ``SETTINGS`` with alpha = 1 and at
    least ``MIN_ALPHAS`` alphas. ``eps`` maps optimizer to eps, ``factor`` (> 1) is how
    far apart prediction and measurement may be. Rows sorted by cell."""
    if not factor > 1:
        raise ValueError(f"stats.knee_factor: value {factor!r} is not allowed; allowed: > 1")
    rows = []
    for history in histories:
        keep = history["optimizer"].isin(EPS_IN_DENOMINATOR)
        for column, value in SETTINGS.items():
            keep &= history[column] == value
        for key, cell in history[keep].groupby(list(CELL), sort=False):
            alphas = set(cell["alpha"])
            if 1.0 not in alphas or len(alphas) < MIN_ALPHAS:
                continue
            optimizer = key[CELL.index("optimizer")]
            if optimizer not in eps:
                raise ValueError(f"optimizers.{optimizer}.eps: no value given for the knee")
            rows.append(dict(zip(CELL, key, strict=True)) | cell_knee(cell, eps[optimizer], factor))
    flags = ("agrees", "update_first_agrees", "update_run_agrees")
    table = pd.DataFrame(rows, columns=list(KNEE_COLUMNS)).astype(dict.fromkeys(flags, "boolean"))
    return table.sort_values(list(CELL), ignore_index=True)
