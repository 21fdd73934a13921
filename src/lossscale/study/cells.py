"""The cells of the training grid: their axes, the blocks' values, and task facts.

A cell is a (task, optimizer, precision, regularization, compensation) trained in one
regime (batch size, steps); its replicas add weight decay, alpha and seed. The
functions here read only the validated config, so the statistics, the figures and the
report agree on the grid without reading each other's output.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

#: The reference loss scale every alpha is compared with.
REF_ALPHA = 1.0
#: A cell's axes and the block keys that list their values.
AXES = {
    "task": "tasks",
    "optimizer": "optimizers",
    "precision": "precisions",
    "regularization": "regularizations",
    "compensation": "compensations",
}
#: A cell's training regime: one value per block (its batch size and steps).
REGIME = ("batch_size", "steps")
#: Settings: a cell without its optimizer (the findings compare optimizers within one).
SETTING_AXES = ("task", "precision", "regularization", "compensation", *REGIME)


def blocks(config: Mapping[str, Any]) -> Mapping[str, Mapping[str, Any]]:
    """The validated config's training blocks, in config order."""
    return config["train"]["blocks"]


def grid_orders(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """Every axis's values in order of first appearance over the blocks (config order)."""
    orders: dict[str, list[str]] = {axis: [] for axis in AXES}
    for block in blocks(config).values():
        for axis, key in AXES.items():
            for value in block[key]:
                if value not in orders[axis]:
                    orders[axis].append(value)
    return orders


def in_setting(row: Mapping[str, Any], setting: Mapping[str, Any]) -> bool:
    """Whether a row (a dict with the cell's columns) has every value of ``setting``."""
    return all(row[axis] == setting[axis] for axis in SETTING_AXES if axis in setting)


def task_objective(settings: Mapping[str, Any]) -> str:
    """The task's training loss: ``mse`` for the regressions, else its ``objective``."""
    return str(settings.get("objective", "mse"))


def task_model(settings: Mapping[str, Any]) -> str:
    """The registered model (``lossscale.models.MODELS``) of a validated task's settings:
    its ``model`` setting where its kind has one, else its kind's ``x-model`` in the schema."""
    if settings.get("model"):
        return str(settings["model"])
    kind = settings["kind"]
    if kind not in _kind_models():
        raise ValueError(
            f"$defs.{kind}: the task kind names no model; allowed: a 'model' setting or "
            "'x-model: <name>' of lossscale.models.MODELS in its schema section"
        )
    return _kind_models()[kind]


@functools.cache
def _kind_models() -> dict[str, str]:
    """Each task kind's model as its schema section declares it (``x-model``)."""
    from lossscale.config import load_schema

    defs = load_schema()["$defs"]
    return {kind: d["x-model"] for kind, d in defs.items() if "x-model" in d}


def is_classification(settings: Mapping[str, Any]) -> bool:
    """Whether the task's metric is an error rate (else a normalized MSE)."""
    return task_objective(settings) != "mse"
