"""Whether the findings survive a change of regime: the blocks that train the same
optimizers and loss scales with minibatches, for more steps or with another activation
or depth, set against the full-batch ReLU runs of the main regime.

A block's setting is matched to its baseline: the same setting at batch size 0 and the
grid's default steps, on the base task (the task whose settings equal this one's but
for ``activation`` and ``hidden``). Every matched comparison is compared by its verdict
on the training metric, and the differing ones are listed with their effects and
intervals on both sides, so that a changed verdict can be told from a threshold case.
Also here: the baselines themselves (does any reference run diverge, what learning rate
each task sets).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lossscale.report.findings import effect, label
from lossscale.study import cells
from lossscale.tables import CELL, REFERENCE

Row = Mapping[str, Any]
#: The task settings a robustness block may change (the network, not the problem).
NETWORK_KEYS = ("activation", "hidden")
#: The activation of the main regime's networks.
BASE_ACTIVATION = "relu"
#: Which quantity the verdicts are compared on.
QUANTITY = "train"


def base_task(tasks: Mapping[str, Mapping], name: str) -> str:
    """The first task (config order) whose settings equal ``name``'s but for
    ``NETWORK_KEYS`` and whose activation is ReLU, the main regime's network; ``name``
    itself when it is such a network or there is none."""

    def problem(settings: Mapping) -> dict:
        return {k: v for k, v in settings.items() if k not in NETWORK_KEYS}

    if tasks[name].get("activation") == BASE_ACTIVATION:
        return name
    for other, settings in tasks.items():
        same = problem(settings) == problem(tasks[name])
        if same and settings.get("activation") == BASE_ACTIVATION:
            return other
    return name


def changes(block: Mapping[str, Any], steps: int, tasks: Mapping[str, Mapping]) -> list[str]:
    """What a block changes against the main regime: ``batch_size``, ``steps``,
    ``network`` (some task of it is a network variant)."""
    out = []
    if block["batch_size"]:
        out.append("batch_size")
    if block["steps"] != steps:
        out.append("steps")
    if any(base_task(tasks, t) != t for t in block["tasks"]):
        out.append("network")
    return out


def _index(comparisons: Iterable[Row], quantity: str = QUANTITY) -> dict[tuple, Row]:
    return {
        (*(r[c] for c in CELL), r["alpha"]): r for r in comparisons if r["quantity"] == quantity
    }


def _overlap(a: Row, b: Row) -> bool:
    """Whether two comparisons' effect intervals overlap (False where one is missing)."""
    bounds = [a["ci_low"], a["ci_high"], b["ci_low"], b["ci_high"]]
    if any(v is None for v in bounds):
        return False
    return bool(a["ci_low"] <= b["ci_high"] and b["ci_low"] <= a["ci_high"])


def _pair(variant: Row, base: Row) -> dict[str, Any]:
    return {
        "alpha": variant["alpha"],
        "variant": effect(variant),
        "base": effect(base),
        "same": variant["verdict"] == base["verdict"],
        "overlap": _overlap(variant, base),
    }


def block_robustness(
    comparisons: list[Row],
    config: Mapping[str, Any],
    name: str,
    index: dict[tuple, Row],
    quantity: str = QUANTITY,
) -> dict[str, Any] | None:
    """One robustness block: per (task, optimizer, compensation), its comparisons of
    ``quantity`` matched to the baseline's (``index``, of the same quantity), the number
    with the same verdict and the differing ones (None when the block changes nothing or
    nothing matches)."""
    block = cells.blocks(config)[name]
    steps = config["train"]["steps"]
    what = changes(block, steps, config["tasks"])
    if block["phase"] or not what:
        return None
    groups = []
    for row in comparisons:
        if row["quantity"] != quantity or row["verdict"] == REFERENCE:
            continue
        if row["task"] not in block["tasks"] or row["optimizer"] not in block["optimizers"]:
            continue
        if (row["batch_size"], row["steps"]) != (block["batch_size"], block["steps"]):
            continue
        if row["compensation"] not in block["compensations"]:
            continue
        if row["regularization"] not in block["regularizations"]:
            continue
        if row["precision"] not in block["precisions"]:
            continue
        if row["alpha"] not in {float(a) for a in block["alphas"]}:
            continue
        key = {c: row[c] for c in CELL} | {"batch_size": 0, "steps": steps}
        key["task"] = base_task(config["tasks"], row["task"])
        if key["task"] == row["task"] and (row["batch_size"], row["steps"]) == (0, steps):
            continue  # a run of the main regime itself
        base = index.get((*(key[c] for c in CELL), row["alpha"]))
        if base is None:
            continue
        group_key = (row["task"], row["optimizer"], row["compensation"])
        if not groups or groups[-1]["key"] != group_key:
            groups.append(
                {
                    "key": group_key,
                    "task": row["task"],
                    "base_task": key["task"],
                    "optimizer": row["optimizer"],
                    "label": label(row["optimizer"]),
                    "compensation": row["compensation"],
                    "pairs": [],
                }
            )
        groups[-1]["pairs"].append(_pair(row, base))
    if not groups:
        return None
    for g in groups:
        del g["key"]
        g["n"] = len(g["pairs"])
        g["n_same"] = sum(p["same"] for p in g["pairs"])
        g["differ"] = [p for p in g["pairs"] if not p["same"]]
    return {
        "name": name,
        "changes": what,
        "batch_size": block["batch_size"],
        "steps": block["steps"],
        "base_steps": steps,
        "groups": groups,
        "n": sum(g["n"] for g in groups),
        "n_same": sum(g["n_same"] for g in groups),
    }


def reference_health(comparisons: Iterable[Row], untrained: float) -> dict[str, Any]:
    """The reference runs (alpha = 1) of every cell: how many, how many with a diverged
    seed, and how many do not train (their training metric moved by at most the
    ``untrained`` fraction, as the ``neither_trains`` verdict reads it)."""
    refs = [r for r in comparisons if r["quantity"] == QUANTITY and r["verdict"] == REFERENCE]
    stalled = [r for r in refs if r.get("progress") is not None and r["progress"] <= untrained]
    return {
        "n": len(refs),
        "n_untrained": len(stalled),
        "untrained_tasks": list(dict.fromkeys(r["task"] for r in stalled)),
        "n_diverged": sum(r["n_diverged"] > 0 for r in refs),
        "diverged": [
            {"task": r["task"], "label": label(r["optimizer"])} for r in refs if r["n_diverged"]
        ],
    }


def lr_choices(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The tasks of the grid that set their own base learning rate, per optimizer, beside
    the ``optimizers`` section's."""
    trained = set(cells.grid_orders(config)["task"])
    out = []
    for task, settings in config["tasks"].items():
        for optimizer, lr in settings.get("lr", {}).items():
            if task in trained:
                default = config["optimizers"][optimizer]["lr"]
                out.append(
                    {"task": task, "optimizer": optimizer, "label": label(optimizer)}
                    | {"lr": float(lr), "default": float(default)}
                )
    return out


def robustness(comparisons: list[Row], config: Mapping[str, Any]) -> dict[str, Any]:
    """The context's ``robustness``: the reference runs and every robustness block."""
    index = _index(comparisons)
    blocks = [block_robustness(comparisons, config, name, index) for name in cells.blocks(config)]
    found = [b for b in blocks if b is not None]
    test_index = _index(comparisons, "test")
    tested = [
        b
        for name in cells.blocks(config)
        if (b := block_robustness(comparisons, config, name, test_index, "test")) is not None
    ]
    differ = [p for b in tested for g in b["groups"] for p in g["differ"]]
    signs = ("better", "worse")
    return {
        "reference": reference_health(comparisons, config["stats"]["untrained"]),
        "blocks": found,
        "n": sum(b["n"] for b in found),
        "n_same": sum(b["n_same"] for b in found),
        "n_overlap": sum(p["overlap"] for b in found for g in b["groups"] for p in g["differ"]),
        # the held-out metric: verdicts kept, and the changes from better to worse or back
        "test": {
            "n": sum(b["n"] for b in tested),
            "n_same": sum(b["n_same"] for b in tested),
            "n_overlap": sum(p["overlap"] for p in differ),
            "flips": [
                {"block": b["name"], "task": g["task"], "label": g["label"], **p}
                for b in tested
                for g in b["groups"]
                for p in g["differ"]
                if {p["variant"]["verdict"], p["base"]["verdict"]} == set(signs)
            ],
        },
    }


def reference_means(comparisons: Iterable[Row], config: Mapping[str, Any], name: str | None):
    """The alpha = 1 runs of block ``name`` per optimizer and regularization: the mean
    final training and held-out metric and the early-stopped held-out metric (what each
    setting does before any loss scale; empty without the block)."""
    if name is None:
        return []
    block = cells.blocks(config)[name]
    out: dict[tuple, dict[str, Any]] = {}
    for r in comparisons:
        if r["verdict"] != REFERENCE or r["task"] not in block["tasks"]:
            continue
        if r["optimizer"] not in block["optimizers"] or r["compensation"] != "none":
            continue
        if (r["batch_size"], r["steps"], r["precision"]) != (
            block["batch_size"],
            block["steps"],
            block["precisions"][0],
        ):
            continue
        if r["regularization"] not in block["regularizations"]:
            continue
        key = (r["task"], r["optimizer"], r["regularization"])
        entry = out.setdefault(
            key,
            {"task": key[0], "optimizer": key[1], "label": label(key[1]), "regularization": key[2]},
        )
        entry[r["quantity"]] = r["mean"]
        entry["weight_decay"] = r["weight_decay"]
        if r["quantity"] == QUANTITY:
            entry["progress"] = r.get("progress")
    return list(out.values())
