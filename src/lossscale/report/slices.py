"""Which part of the training grid the paper's main table, answer and figure show.

The grid crosses many settings; the paper's central view is one slice of it: the
asker's task at the main settings (float32, no regularization, no compensation), every
optimizer, every alpha. The figure shows the same settings on every task, and each
block of the grid is summarized on its own. The functions here read only the validated
config (``config["tasks"]`` and ``config["train"]["blocks"]``), so the figure rule and
the report agree on the slice without reading each other's output.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lossscale.study.cells import (
    AXES,
    REF_ALPHA,
    REGIME,
    blocks,
    grid_orders,
    is_classification,
    task_model,
)
from lossscale.study.optimizers import eps_optimizers

#: The block whose first task is the asker's when no task is named ``diabetes``.
MAIN_BLOCK = "main"
#: The asker's task (a tiny MSE on scikit-learn's diabetes data).
ASKER_TASK = "diabetes"
#: The asker's optimizer and factor, as the question states them (NAdam, loss x 1e5).
ASKER_OPTIMIZER = "nadam"
ASKER_FACTOR = 1e5
#: The settings of the main slice, where the block has them.
MAIN_SETTINGS = {"precision": "float32", "regularization": "none", "compensation": "none"}
#: The alphas the results table shows besides the reference and the largest alpha.
TABLE_ALPHAS = (1e-8, 1e-4, 1e4, 1e8)
#: What each task objective is called, and the metric the training tables report.
LOSS_NAMES = {"mse": "mean squared error", "cross_entropy": "cross-entropy", "focal": "focal loss"}
LOSS_SHORT = {"mse": "MSE", "cross_entropy": "cross-entropy", "focal": "focal"}


def main_block(config: Mapping[str, Any]) -> str:
    """The block named ``main``, else the first block."""
    names = list(blocks(config))
    return MAIN_BLOCK if MAIN_BLOCK in names else names[0]


def main_slice(config: Mapping[str, Any]) -> dict[str, str]:
    """The asker's task at the main settings: task, precision, regularization, compensation.

    The task is ``diabetes`` where the grid trains it, else the first task of the main
    block; each setting is the main one (float32, none, none) where the main block has
    it, else the main block's first value.
    """
    name = main_block(config)
    block = blocks(config)[name]
    task = ASKER_TASK if ASKER_TASK in grid_orders(config)["task"] else block["tasks"][0]
    return {"block": name, **block_focus(block, task)}


def table_alphas(alphas: Iterable[float]) -> list[float]:
    """The alphas of the results table: ``TABLE_ALPHAS`` present in ``alphas``, the
    reference alpha = 1 and the largest alpha (the one the answer reports)."""
    present = sorted({float(a) for a in alphas})
    if not present:
        return []
    wanted = {a for a in present if a in TABLE_ALPHAS or a == REF_ALPHA} | {present[-1]}
    return sorted(wanted)


def metric_name(settings: Mapping[str, Any]) -> str:
    """The reported metric of a task, in words."""
    return "error rate" if is_classification(settings) else "normalized mean squared error"


def crossing_block(config: Mapping[str, Any], key: str) -> str | None:
    """The first block whose list ``key`` (e.g. ``precisions``) has several values."""
    return next((name for name, b in blocks(config).items() if len(b[key]) > 1), None)


def asker_block(config: Mapping[str, Any]) -> str | None:
    """The block of the asker's scenario: the first block that is not a phase block and
    whose compensations include ``lr_instead`` (the learning rate raised instead of the
    loss scaled)."""
    return next(
        (
            name
            for name, b in blocks(config).items()
            if not b["phase"] and "lr_instead" in b["compensations"]
        ),
        None,
    )


def phase_block(config: Mapping[str, Any]) -> str | None:
    """The first block of the asker's phase diagram (``phase: true``)."""
    return next((name for name, b in blocks(config).items() if b["phase"]), None)


def eps_compensation_block(config: Mapping[str, Any]) -> str | None:
    """The block of the mechanism figure's eps-compensated runs: the first block whose
    compensations include ``eps`` (the loss and eps both times alpha) and that trains an
    optimizer with eps which a phase block trains too; None without one (or without a
    phase block)."""
    phased = {o for b in blocks(config).values() if b["phase"] for o in b["optimizers"]}
    wanted = phased & set(eps_optimizers())
    return next(
        (
            name
            for name, b in blocks(config).items()
            if "eps" in b["compensations"] and wanted & set(b["optimizers"])
        ),
        None,
    )


def regularization_block(config: Mapping[str, Any]) -> str | None:
    """The first block that crosses several regularizations."""
    return crossing_block(config, "regularizations")


def precision_block(config: Mapping[str, Any]) -> str | None:
    """The first block that crosses several precisions."""
    return crossing_block(config, "precisions")


def models_block(config: Mapping[str, Any]) -> str | None:
    """The first block that trains a network other than an MLP (a CNN, a transformer)."""
    tasks = config["tasks"]
    return next(
        (
            name
            for name, b in blocks(config).items()
            if any(task_model(tasks[t]) != "mlp" for t in b["tasks"])
        ),
        None,
    )


def block_focus(block: Mapping[str, Any], task: str | None = None) -> dict[str, Any]:
    """One setting of a block for a figure that shows a single one: ``task``, else the
    asker's task where the block has it (else its first task); for precision,
    regularization and compensation the main value where the block has it (else its
    first); the block's batch size and steps."""
    if task is None:
        task = ASKER_TASK if ASKER_TASK in block["tasks"] else block["tasks"][0]
    out: dict[str, Any] = {"task": task}
    for axis, value in MAIN_SETTINGS.items():
        values = block[AXES[axis]]
        out[axis] = value if value in values else values[0]
    return out | {key: block[key] for key in REGIME}
