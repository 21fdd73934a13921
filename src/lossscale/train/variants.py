"""A replica's training setup: its loss scale, L2 strength and hyperparameters.

What the variants are (regularizations, compensations) and which exist is the study's
(:mod:`lossscale.study.variants`); this module turns a cell's replicas into what the
engine needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lossscale.study.variants import (
    CHANGES,
    FLAG,
    INSTEAD,
    Replica,
    optimizer_keywords,
    unsupported,
)
from lossscale.train.stacked_optim.per_replica import ADAMW_EPS


@dataclass(frozen=True)
class Setup:
    """What the engine needs for R replicas: per-replica loss scales, L2 strengths and
    seeds, and hyperparameters (a value shared by all replicas or a list of R)."""

    loss_scales: list[float]
    l2: list[float]
    seeds: list[int]
    hyper: dict[str, Any]


def replica_setup(optimizer: str, base: Mapping[str, Any], replicas: Sequence[Replica]) -> Setup:
    """Loss scales, L2 strengths and hyperparameters of ``replicas`` of ``optimizer``.

    ``base`` holds the configured hyperparameters (without weight decay, which each
    replica's regularization sets).
    """
    keys = optimizer_keywords(optimizer)
    per_replica: list[dict[str, Any]] = []
    scales, l2 = [], []
    for rep in replicas:
        why = unsupported(optimizer, rep.regularization, rep.compensation)
        if why:
            raise ValueError(
                f"regularization {rep.regularization!r} with compensation "
                f"{rep.compensation!r}: not available, {why}"
            )
        hyper = dict(base)
        if "weight_decay" in keys:
            decays = rep.regularization in ("coupled", "decoupled")
            hyper["weight_decay"] = rep.weight_decay if decays else 0.0
        if FLAG in keys:
            hyper[FLAG] = rep.regularization == "decoupled"
        scale = 1.0 if rep.compensation in INSTEAD else rep.alpha
        name, times = CHANGES.get(rep.compensation, (None, True))
        if name is not None:
            hyper[name] = _changed(hyper.get(name, keys[name]), rep.alpha, times)
        if optimizer == "muon":  # the AdamW beside Muon follows eps compensation too
            moved = name == "eps"
            hyper["adamw_eps"] = _changed(ADAMW_EPS, rep.alpha, times) if moved else ADAMW_EPS
        scales.append(float(scale))
        l2.append(rep.weight_decay if rep.regularization == "l2" else 0.0)
        per_replica.append(hyper)
    names = dict.fromkeys(k for hyper in per_replica for k in hyper)
    defaults = {**keys, "adamw_eps": ADAMW_EPS}
    return Setup(
        loss_scales=scales,
        l2=l2,
        seeds=[rep.seed for rep in replicas],
        hyper={
            key: _shared_or_list([hyper.get(key, defaults[key]) for hyper in per_replica])
            for key in names
        },
    )


def _changed(value: float, alpha: float, times: bool) -> float:
    """``value`` times or divided by ``alpha``."""
    return value * alpha if times else value / alpha


def _shared_or_list(values: list) -> Any:
    """One value when every replica has it, else the list (tuples: entry by entry)."""
    first = values[0]
    if all(v == first for v in values):
        return first
    if isinstance(first, tuple | list):
        return tuple(_shared_or_list([v[i] for v in values]) for i in range(len(first)))
    if isinstance(first, bool):
        return np.array(values, dtype=bool)
    return list(values)
