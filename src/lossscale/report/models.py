"""The section on networks other than MLPs: for the block that trains them, each
optimizer's reference, its verdicts grouped by loss scale and its eps knee, from
comparisons.csv and knee.csv."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lossscale.report import findings, slices
from lossscale.study import cells

Row = Mapping[str, Any]
#: What ``around_knee`` lists on each side of a knee: every loss scale, the equivalent
#: ones, the inconclusive ones and the worse ones.
SIDE_KEYS = ("alphas", "equivalent", "inconclusive", "worse")


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
    groups: dict[str, list[Row]] = {}
    for row in sorted(_scaled(rows), key=lambda r: r["alpha"]):
        groups.setdefault(row["verdict"], []).append(row)
    return [
        {
            "verdict": v,
            "alphas": [r["alpha"] for r in members],
            "effects": [
                {k: r[k] for k in ("alpha", "effect", "ci_low", "ci_high")} for r in members
            ],
        }
        for v, members in groups.items()
    ]


def around_knee(rows: Sequence[Row], predicted: float, factor: float) -> dict[str, Any]:
    """How the verdicts of one cell on one quantity (``rows``) fall on either side of its
    predicted knee: the loss scales at least ``factor`` above it and at least ``factor``
    below it, and which of them had each verdict of ``SIDE_KEYS``."""

    def side(keep) -> dict[str, Any]:
        chosen = sorted((r for r in _scaled(rows) if keep(r["alpha"])), key=lambda r: r["alpha"])
        out = {"alphas": [r["alpha"] for r in chosen]}
        for verdict in SIDE_KEYS[1:]:
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
    eps-type optimizers the predicted and measured knee; ``counts`` sums, over those
    optimizers, the loss scales either side of their knees (``around_knee``)."""
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
                    "task": task,
                    "optimizer": optimizer,
                    "label": findings.label(optimizer),
                    "ref_train": by["train"][0]["ref_mean"],
                    "ref_test": by["test"][0]["ref_mean"],
                    "ref_progress": by["train"][0]["ref_progress"],
                    "test": verdict_groups(by["test"]),
                    "train": verdict_groups(by["train"]),
                    "agrees": None if k is None else k["agrees"],
                    "knee": None
                    if k is None
                    else {
                        key: k[key]
                        for key in ("eps", "grad_rms_init", "predicted_knee", "measured_knee")
                    }
                    | {"ratio": k["ratio"], "censored": k["censored"]}
                    | {"update_first": k["update_knee_first"]}
                    | {"update_first_censored": k["update_first_censored"]}
                    | {q: around_knee(by[q], k["predicted_knee"], factor) for q in by},
                }
            )
        if entries:
            tasks.append({"name": task, "optimizers": entries})
    eps = [e["knee"] for t in tasks for e in t["optimizers"] if e["knee"]]
    counts = {
        q: {
            side: {key: sum(len(k[q][side][key]) for k in eps) for key in SIDE_KEYS}
            for side in ("above", "below")
        }
        for q in ("test", "train")
    }
    return {
        "counts": counts,
        "block": name,
        "seeds": block["seeds"],
        "steps": block["steps"],
        "batch_size": block["batch_size"],
        "alphas": sorted(float(a) for a in block["alphas"]),
        "tasks": tasks,
    }
