"""The convolutional and transformer networks' section: block by block of the grid
that trains them, each optimizer's reference, its verdicts grouped by loss scale and its
eps knee, from comparisons.csv and knee.csv."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lossscale.report import findings, slices
from lossscale.study import cells

Row = Mapping[str, Any]


def _in_block(row: Row, block: Mapping[str, Any], focus: Mapping[str, Any]) -> bool:
    """Whether a comparisons or knee row is the block's, at its focus settings."""
    return (
        row["task"] in block["tasks"]
        and row["optimizer"] in block["optimizers"]
        and all(row[axis] == focus[axis] for axis in slices.MAIN_SETTINGS)
        and row["batch_size"] == block["batch_size"]
        and row["steps"] == block["steps"]
    )


def _scaled(rows: Sequence[Row]) -> list[Row]:
    """The comparisons of a loss scale other than the reference's (alpha = 1)."""
    return [r for r in rows if r["alpha"] != cells.REF_ALPHA]


def verdict_groups(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """The loss scales of ``rows`` (one cell's comparisons on one quantity) grouped by
    verdict, groups in the order of their smallest loss scale."""
    groups: dict[str, list[float]] = {}
    for row in sorted(_scaled(rows), key=lambda r: r["alpha"]):
        groups.setdefault(row["verdict"], []).append(row["alpha"])
    return [{"verdict": v, "alphas": alphas} for v, alphas in groups.items()]


def around_knee(rows: Sequence[Row], predicted: float, factor: float) -> dict[str, Any]:
    """How the held-out verdicts of one cell (``rows``) fall on either side of its
    predicted knee: the loss scales at least ``factor`` above it and at least ``factor``
    below it, and which of them were equivalent to the unscaled loss, which inconclusive."""

    def side(keep) -> dict[str, Any]:
        chosen = sorted((r for r in _scaled(rows) if keep(r["alpha"])), key=lambda r: r["alpha"])
        out = {"alphas": [r["alpha"] for r in chosen]}
        for verdict in ("equivalent", "inconclusive"):
            out[verdict] = [r["alpha"] for r in chosen if r["verdict"] == verdict]
        return out

    return {
        "above": side(lambda a: a >= factor * predicted),
        "below": side(lambda a: a <= predicted / factor),
    }


def models_summary(
    comparisons: Sequence[Row], knee: Sequence[Row], config: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The models block (``slices.models_block``; None without one): per task and
    optimizer the reference run's final training and held-out metric and its progress,
    the held-out verdicts grouped by loss scale (and the training ones), and for the
    eps-type optimizers the predicted and measured knee."""
    name = slices.models_block(config)
    if name is None:
        return None
    block = cells.blocks(config)[name]
    focus = slices.block_focus(block)
    factor = config["stats"]["knee_factor"]
    rows = [r for r in comparisons if _in_block(r, block, focus)]
    knees = {(r["task"], r["optimizer"]): r for r in knee if _in_block(r, block, focus)}
    tasks = []
    for task in block["tasks"]:
        entries = []
        for optimizer in block["optimizers"]:
            cell = [r for r in rows if r["task"] == task and r["optimizer"] == optimizer]
            by = {q: [r for r in cell if r["quantity"] == q] for q in ("train", "test")}
            if not by["train"] or not by["test"]:
                continue
            k = knees.get((task, optimizer))
            entries.append(
                {
                    "optimizer": optimizer,
                    "label": findings.label(optimizer),
                    "ref_train": by["train"][0]["ref_mean"],
                    "ref_test": by["test"][0]["ref_mean"],
                    "ref_progress": by["train"][0]["ref_progress"],
                    "test": verdict_groups(by["test"]),
                    "train": verdict_groups(by["train"]),
                    "knee": None
                    if k is None
                    else {
                        key: k[key]
                        for key in ("eps", "grad_rms_init", "predicted_knee", "measured_knee")
                    }
                    | {"ratio": k["ratio"], "censored": k["censored"]}
                    | around_knee(by["test"], k["predicted_knee"], factor),
                }
            )
        if entries:
            tasks.append({"name": task, "optimizers": entries})
    return {
        "block": name,
        "seeds": block["seeds"],
        "steps": block["steps"],
        "batch_size": block["batch_size"],
        "alphas": sorted(float(a) for a in block["alphas"]),
        "tasks": tasks,
    }
