"""The asker's phase diagram: loss magnitude x factor x arm, predicted and measured.

Three ways to multiply something by a factor ``a`` (the arms): the loss (``loss``), the
learning rate with the loss unscaled (``lr``, the asker's alternative) and, for
Adam-type optimizers, eps divided by ``a`` with the loss unscaled (``eps``, exactly the
loss times ``a``: a control). Adam's first update is ``lr * g / (|g| + eps)`` per
coordinate (``m_1 = g``, ``v_1 = g^2`` after bias correction); with ``G`` the gradient's
RMS the theory approximates its RMS by

    loss: lr * aG / (aG + eps)      lr: a lr * G / (G + eps)      eps: lr * G / (G + eps/a)

The loss arm (like the eps arm) saturates at ``lr`` once ``aG >> eps``; the lr arm does
not saturate: it grows with ``a`` without bound. Below eps (``aG << eps``, resp.
``G << eps``) both are ``a lr G / eps``: the two agree to first order, and the update is
eps-dominated. SGD has no eps: both arms are ``a lr G`` exactly. A first update whose
RMS exceeds ``oversized`` times the parameters' RMS is oversized: the theory predicts
that the run blows up there, so the lr arm must blow up at a large enough factor while
the loss arm cannot unless ``lr`` itself is oversized.

``phase_table`` measures each setting (seeds diverged, exploded, the final metrics, the
first update) beside the prediction; ``boundary_table`` sets the predicted factors at
which the update leaves the eps regime, training starts and the run blows up against
the first factors of the grid where that was measured.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from lossscale.config import base_hyperparameters
from lossscale.stats.knee import agrees
from lossscale.stats.load import block_rows, final_rows
from lossscale.study.phase import magnitude_of, phase_blocks
from lossscale.tables import PHASE_ARMS, PHASE_BOUNDARY_COLUMNS, PHASE_COLUMNS, PHASE_PLACE

#: The training-table columns the phase diagram reads.
READ_COLUMNS = (
    "alpha",
    "seed",
    "step",
    "train_metric",
    "test_metric",
    "grad_rms",
    "param_rms",
    "update_rms",
    "diverged",
)
#: A first update is eps-dominated (the gradient the optimizer sees is below eps),
#: normalized, proportional to the gradient (SGD: linear) or oversized.
REGIMES = ("eps", "normalized", "linear", "oversized")
#: What a setting did: most seeds blew up (diverged or exploded), else it trained (mean
#: final training metric at most ``trains``) or stalled.
OUTCOMES = ("trains", "stalls", "blows_up")
#: The boundaries of ``boundary_table``, in order.
BOUNDARIES = ("normalized", "trains", "blows_up")
REF_FACTOR = 1.0


def _effective(arm: str, grad_rms: float, lr: float, eps: float, factor: float):
    """The gradient RMS, learning rate and eps the optimizer works with in ``arm``."""
    if arm == "loss":
        return grad_rms * factor, lr, eps
    if arm == "lr":
        return grad_rms, lr * factor, eps
    if arm == "eps":
        return grad_rms, lr, eps / factor
    raise ValueError(f"arm: value {arm!r} is not allowed; allowed: loss, lr, eps")


def predicted_update(
    arm: str, grad_rms: float, lr: float, eps: float | None, factor: float
) -> float:
    """The RMS of the first update the theory predicts (module docstring); ``eps`` None
    for SGD, where the loss and the learning-rate arm are both ``factor * lr * grad_rms``."""
    if eps is None:
        if arm == "eps":
            raise ValueError("arm 'eps' needs an optimizer with eps")
        return factor * lr * grad_rms
    g, step, floor = _effective(arm, grad_rms, lr, eps, factor)
    return step * g / (g + floor) if g + floor > 0 else 0.0


def factor_for_update(
    arm: str, grad_rms: float, lr: float, eps: float | None, update: float
) -> float:
    """The smallest factor whose predicted first update (``predicted_update``) reaches
    ``update``: inf where none does (the loss and eps arms never exceed ``lr``)."""
    if grad_rms <= 0 or lr <= 0:
        return math.inf
    if eps is None:
        return update / (lr * grad_rms)
    if arm == "lr":
        return update * (grad_rms + eps) / (lr * grad_rms)
    _effective(arm, grad_rms, lr, eps, 1.0)  # refuses an unknown arm
    return math.inf if update >= lr else eps * update / (grad_rms * (lr - update))


def regime(
    arm: str,
    update: float,
    lr: float,
    eps: float | None,
    factor: float,
    param_rms: float,
    oversized: float,
) -> str:
    """The regime of a first update of RMS ``update`` (predicted or measured): oversized
    above ``oversized * param_rms``; else for SGD (``eps`` None) linear; else
    eps-dominated when it is under half the arm's normalized step (its learning rate:
    ``lr``, or ``factor * lr`` in the lr arm), which for the predicted update is exactly
    where the gradient the optimizer sees is below its eps; else normalized."""
    if update > oversized * param_rms:
        return "oversized"
    if eps is None:
        return "linear"
    return "normalized" if normalized_share(arm, update, lr, factor) >= 0.5 else "eps"


def normalized_share(arm: str, update: float, lr: float, factor: float) -> float:
    """A first update of RMS ``update`` over the arm's normalized step (``lr``, or
    ``factor * lr`` in the lr arm): at least 1/2 out of the eps regime."""
    return update / _effective(arm, 1.0, lr, 1.0, factor)[1]


def predicted_boundaries(
    arm: str, grad_rms: float, lr: float, eps: float | None, param_rms: float, oversized: float
) -> dict[str, float]:
    """The factors at which, by the theory, the first update leaves the eps regime
    (``normalized``: for the loss and eps arms ``eps / grad_rms``; the lr arm does not
    change the ratio of gradient to eps, so 0 or inf), reaches half the base step ``lr``
    (``trains``) and exceeds ``oversized * param_rms`` (``blows_up``); NaN where the
    theory says nothing (SGD has no eps and no normalized step)."""
    if eps is None:
        normalized = trains = math.nan
    else:
        trains = factor_for_update(arm, grad_rms, lr, eps, lr / 2)
        normalized = (0.0 if grad_rms >= eps else math.inf) if arm == "lr" else trains
    blows_up = factor_for_update(arm, grad_rms, lr, eps, oversized * param_rms)
    return {"normalized": normalized, "trains": trains, "blows_up": blows_up}


def outcome(
    init: pd.DataFrame, final: pd.DataFrame, peak: pd.Series, trains: float, explode: float
) -> dict:
    """What one setting did, from its seeds' step-0 and final rows and their largest
    recorded training metric ``peak`` (all by seed): ``n_diverged`` (non-finite),
    ``n_exploded`` (finite, whose training metric exceeded ``explode`` times the initial
    one at some recorded step and did not end at or below ``trains``: a run that blew up
    and then collapsed to a constant output counts, one that spiked and trained does not),
    the mean final metrics over the seeds that did not diverge, and the outcome
    (``OUTCOMES``)."""
    final = final.set_index("seed").sort_index()
    init = init.set_index("seed").sort_index().reindex(final.index)
    peak = peak.reindex(final.index)
    diverged = final["diverged"].astype(bool)
    metric = final["train_metric"].where(~diverged)
    exploded = ~diverged & (peak > explode * init["train_metric"]) & ~(metric <= trains)
    blown = diverged | exploded
    if blown.sum() * 2 > len(final):
        result = "blows_up"
    else:
        result = "trains" if metric[~blown].mean() <= trains else "stalls"
    return {
        "n_seeds": len(final),
        "n_diverged": int(diverged.sum()),
        "n_exploded": int(exploded.sum()),
        "train_metric_init": float(init["train_metric"].mean()),
        "train_metric": float(metric.mean()),
        "test_metric": float(final["test_metric"].where(~diverged).mean()),
        "outcome": result,
    }


def _first(rows: pd.DataFrame, column: str, arm: str, factor: float) -> pd.DataFrame:
    return rows[(rows["arm"] == arm) & (rows["alpha"] == factor)][["seed", column]]


def phase_table(
    histories: Iterable[pd.DataFrame],
    config: Mapping[str, Any],
) -> pd.DataFrame:
    """One row per (optimizer, task, precision, arm, factor) of the phase blocks
    (``PHASE_COLUMNS``), from the training tables ``histories`` (any jobs: rows outside
    the phase blocks are ignored) and the validated ``config`` (tasks, optimizers,
    phase). Rows sorted by optimizer (in the order the phase blocks name them), output
    scaling (scaled first),
    target scale, precision, arm and factor."""
    settings = config["phase"]
    blocks = list(phase_blocks(config).values())
    out = []
    for history in histories:
        rows = pd.concat([block_rows(history, b) for b in blocks]).drop_duplicates()
        rows = rows.assign(arm=rows["compensation"].map(PHASE_ARMS))
        for (opt, task, precision), cell in rows.groupby(
            ["optimizer", "task", "precision"], sort=False
        ):
            out += _cell_rows(cell, opt, task, precision, config, settings)
    table = pd.DataFrame(out, columns=[c for c in PHASE_COLUMNS if c != "asker_pattern"])
    named = [o for b in blocks for o in b["optimizers"]]
    order = {name: i for i, name in enumerate(dict.fromkeys(named))}
    arms = {arm: i for i, arm in enumerate(PHASE_ARMS.values())}
    position = table.assign(
        _o=table["optimizer"].map(order),
        _a=table["arm"].map(arms),
        _s=~table["output_scaled"].astype(bool),
    )
    keys = ["_o", "_s", "target_scale", "precision", "_a", "factor"]
    table = table.loc[position.sort_values(keys).index].reset_index(drop=True)
    return table.assign(asker_pattern=asker_pattern(table))[list(PHASE_COLUMNS)]


def asker_pattern(table: pd.DataFrame) -> pd.Series:
    """Per row of the phase table: whether the asker's observation appears at its
    setting and factor (above 1): the unscaled loss (loss arm, factor 1) does not
    train, the loss times the factor trains, the learning rate times it blows up."""
    outcome = table.set_index(["optimizer", "task", "precision", "arm", "factor"])["outcome"]

    def at(arm: str, factor: pd.Series) -> pd.Series:
        index = pd.MultiIndex.from_arrays(
            [table["optimizer"], table["task"], table["precision"], [arm] * len(table), factor]
        )
        return pd.Series(outcome.reindex(index).to_numpy(), index=table.index)

    ones = pd.Series(REF_FACTOR, index=table.index)
    return (
        (table["factor"] != REF_FACTOR)
        & (at("loss", ones) != "trains")
        & (at("loss", table["factor"]) == "trains")
        & (at("lr", table["factor"]) == "blows_up")
    )


def _cell_rows(
    cell: pd.DataFrame,
    optimizer: str,
    task: str,
    precision: str,
    config: Mapping[str, Any],
    settings: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """The phase rows of one job's phase runs (every arm and factor)."""
    hyper = base_hyperparameters(config, task, optimizer)
    lr, eps = float(hyper["lr"]), hyper.get("eps")
    eps = None if eps is None else float(eps)
    scale, scaled = magnitude_of(config["tasks"][task])
    init = cell[cell["step"] == 0]
    final = final_rows(cell)
    peaks = cell.groupby(["arm", "alpha", "seed"])["train_metric"].max()
    grad_rms = float(_first(init, "grad_rms", "loss", REF_FACTOR)["grad_rms"].mean())
    param_rms = float(_first(init, "param_rms", "loss", REF_FACTOR)["param_rms"].mean())
    out = []
    for (arm, factor), runs in final.groupby(["arm", "alpha"], sort=True):
        start = init[(init["arm"] == arm) & (init["alpha"] == factor)]
        update = float((start["update_rms"] / start["param_rms"]).mean())
        predicted = predicted_update(arm, grad_rms, lr, eps, factor)
        args = (lr, eps, factor, param_rms, settings["oversized"])
        out.append(
            {
                "optimizer": optimizer,
                "task": task,
                "target_scale": scale,
                "output_scaled": scaled,
                "precision": precision,
                "arm": arm,
                "factor": float(factor),
                "lr": lr,
                "eps": eps,
                **outcome(
                    start, runs, peaks.loc[(arm, factor)], settings["trains"], settings["explode"]
                ),
                "grad_rms_init": grad_rms,
                "param_rms_init": param_rms,
                "update_rms_first": update,
                "predicted_update": predicted / param_rms,
                "predicted_regime": regime(arm, predicted, *args),
                "measured_regime": regime(arm, update * param_rms, *args),
            }
        )
    return out


def measured_boundary(factors: np.ndarray, hit: np.ndarray, values: np.ndarray, level: float):
    """Where a boundary lies on the grid of ``factors`` (ascending): at the first factor
    where ``hit`` holds, interpolated linearly in log factor from the previous one by
    where ``values`` cross ``level`` (the grid factor itself where they do not bracket
    it), and its censoring: ``below`` (already at the smallest factor: that factor),
    ``above`` (at none: the largest factor), else ``""``."""
    hits = np.flatnonzero(hit)
    if not len(hits):
        return float(factors[-1]), "above"
    i = hits[0]
    if i == 0:
        return float(factors[0]), "below"
    before, at = values[i - 1], values[i]
    if not (np.isfinite(before) and np.isfinite(at)) or (before - level) * (at - level) > 0:
        return float(factors[i]), ""
    frac = 1.0 if at == before else (level - before) / (at - before)
    lo, hi = np.log(factors[i - 1]), np.log(factors[i])
    return float(np.exp(lo + frac * (hi - lo))), ""


def boundary_table(
    phase: pd.DataFrame, oversized: float, trains: float, factor: float
) -> pd.DataFrame:
    """Predicted against measured boundaries, one row per (optimizer, task, precision,
    arm, boundary) of the phase table (``PHASE_BOUNDARY_COLUMNS``): the measured first
    update reaching half the normalized step, the training metric falling to ``trains``,
    half the seeds blowing up, each interpolated in log factor between the grid's factors
    (``measured_boundary``). ``factor`` (> 1): how far apart prediction and measurement may be to
    agree (as for the eps knee)."""
    if not factor > 1:
        raise ValueError(f"stats.knee_factor: value {factor!r} is not allowed; allowed: > 1")
    out = []
    keys = ["optimizer", "task", "precision", "arm"]
    for _, rows in phase.groupby(keys, sort=False):
        rows = rows.sort_values("factor")
        first = rows.iloc[0]
        eps = None if pd.isna(first["eps"]) else float(first["eps"])
        predicted = predicted_boundaries(
            first["arm"],
            first["grad_rms_init"],
            first["lr"],
            eps,
            first["param_rms_init"],
            oversized,
        )
        factors = rows["factor"].to_numpy(float)
        update = (rows["update_rms_first"] * rows["param_rms_init"]).to_numpy(float)
        # the measured first update over the arm's normalized step; the mean training
        # metric (in decades); the fraction of seeds that blew up
        ratio = np.array(
            [
                normalized_share(first["arm"], u, first["lr"], f)
                for u, f in zip(update, factors, strict=True)
            ]
        )
        metric = np.log10(rows["train_metric"].to_numpy(float))
        blown = ((rows["n_diverged"] + rows["n_exploded"]) / rows["n_seeds"]).to_numpy(float)
        where = {
            "normalized": (ratio >= 0.5, ratio, 0.5),
            "trains": ((rows["outcome"] == "trains").to_numpy(), metric, np.log10(trains)),
            "blows_up": ((rows["outcome"] == "blows_up").to_numpy(), blown, 0.5),
        }
        for boundary in BOUNDARIES:
            if boundary == "normalized" and eps is None:
                continue
            measured, censored = measured_boundary(factors, *where[boundary])
            value = predicted[boundary]
            out.append(
                {
                    **{k: first[k] for k in PHASE_PLACE},
                    "boundary": boundary,
                    "predicted": value,
                    "measured": measured,
                    "censored": censored,
                    "factor": factor,
                    "agrees": None
                    if math.isnan(value)
                    else agrees(value, measured, censored, factor),
                }
            )
    return pd.DataFrame(out, columns=list(PHASE_BOUNDARY_COLUMNS)).astype({"agrees": "boolean"})
