"""What the comparisons say, in the shape the paper's sentences branch on.

Every finding comes from the verdicts of ``results/stats/comparisons.csv`` (equivalent,
better, worse, diverged, inconclusive; ``reference`` for alpha = 1 itself): per cell of
the main slice (one per optimizer), per setting of each block of the grid, for the
asker's alternative (the learning rate scaled instead of the loss) and for focal loss.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lossscale.study import cells, optimizers
from lossscale.tables import CELL, OPTIMIZER_LABELS, REFERENCE, VERDICTS

Row = Mapping[str, Any]


def label(optimizer: str) -> str:
    """An optimizer's display name."""
    return OPTIMIZER_LABELS.get(optimizer, optimizer)


def effect(row: Row | None) -> dict[str, Any] | None:
    """One comparison as the text uses it (None when the grid lacks it)."""
    if row is None:
        return None
    keys = ("alpha", "mean", "ref_mean", "effect", "ci_low", "ci_high", "verdict")
    keys += ("n_seeds", "n_pairs", "n_diverged", "p_value", "p_adj", "tost_p_adj")
    out = {k: row[k] for k in keys}
    out["identical"] = row["effect"] == 0 and row["ci_low"] == 0 and row["ci_high"] == 0
    return out


def verdict_alphas(rows: Iterable[Row], quantity: str = "test") -> dict[str, list[float]]:
    """The non-reference alphas of one cell's ``quantity`` rows, by verdict (every
    verdict a key)."""
    out: dict[str, list[float]] = {v: [] for v in VERDICTS}
    for r in sorted(rows, key=lambda r: r["alpha"]):
        if r["quantity"] == quantity and r["verdict"] != REFERENCE:
            out[r["verdict"]].append(r["alpha"])
    return out


def verdict_counts(rows: Iterable[Row], quantity: str = "test") -> dict[str, int]:
    """``quantity`` comparisons (alpha = 1 itself left out) per verdict, every verdict a
    key."""
    return {v: len(a) for v, a in verdict_alphas(rows, quantity).items()}


def _cells(rows: Iterable[Row]) -> dict[tuple, list[Row]]:
    cells: dict[tuple, list[Row]] = {}
    for row in rows:
        cells.setdefault(tuple(row[c] for c in CELL), []).append(row)
    return cells


def cell_finding(rows: list[Row]) -> dict[str, Any]:
    """One cell: its largest alpha's test and train comparison, the alphas by verdict and
    the alpha with the lowest mean test metric."""
    test = sorted((r for r in rows if r["quantity"] == "test"), key=lambda r: r["alpha"])
    train = {r["alpha"]: r for r in rows if r["quantity"] == "train"}
    top = test[-1]
    finite = [r for r in test if r["mean"] is not None]
    best = min(finite, key=lambda r: (r["mean"], r["alpha"])) if finite else None
    opt = top["optimizer"]
    by_verdict = verdict_alphas(test)
    train_by_verdict = verdict_alphas(train.values(), "train")
    return {
        **{c: top[c] for c in CELL},
        "label": label(opt),
        "textbook": optimizers.get(opt).textbook,
        "alpha": top["alpha"],
        "n_alphas": len(test),
        "test": effect(top),
        "train": effect(train.get(top["alpha"])),
        "best": None if best is None else {"alpha": best["alpha"], "mean": best["mean"]},
        "by_verdict": by_verdict,
        "train_by_verdict": train_by_verdict,
        "changed": bool(by_verdict["better"] or by_verdict["worse"]),
        "all_equivalent": bool(by_verdict["equivalent"])
        and all(not a for v, a in by_verdict.items() if v != "equivalent"),
        # equivalent wherever both runs trained, and neither trained at the other alphas
        "equivalent_where_trained": bool(by_verdict["neither_trains"])
        and bool(by_verdict["equivalent"])
        and all(not a for v, a in by_verdict.items() if v not in ("equivalent", "neither_trains")),
        "never_trained": bool(by_verdict["neither_trains"])
        and all(not a for v, a in by_verdict.items() if v != "neither_trains"),
    }


def cell_findings(comparisons: Iterable[Row]) -> list[dict[str, Any]]:
    """One finding per cell that has test rows, in row order."""
    return [
        cell_finding(rows)
        for rows in _cells(comparisons).values()
        if any(r["quantity"] == "test" for r in rows)
    ]


def _names(found: Iterable[Mapping[str, Any]]) -> list[str]:
    return list(dict.fromkeys(f["label"] for f in found))


def clauses(found: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Optimizer labels grouped by the verdict at their largest alpha, in verdict order
    (only verdicts that occur)."""
    out = []
    for v in VERDICTS:
        names = _names(f for f in found if f["test"]["verdict"] == v)
        if names:
            out.append({"verdict": v, "labels": names})
    return out


def summarize(found: list[dict[str, Any]], claims: list[Row]) -> dict[str, Any]:
    """What the abstract and the answer branch on: verdicts at the largest alpha (all
    optimizers, and those the textbook calls invariant), and the claims' outcome."""
    invariant = [f for f in found if f["textbook"] == "invariant"]
    contradicted = [c for c in claims if c["verdict"] != "confirmed"]
    return {
        "clauses": clauses(found),
        "by_verdict": {v: _names(f for f in found if f["test"]["verdict"] == v) for v in VERDICTS},
        "invariant_by_verdict": {
            v: _names(f for f in invariant if f["test"]["verdict"] == v) for v in VERDICTS
        },
        # over all alphas, not only the largest
        "invariant_changed": _names(f for f in invariant if f["changed"]),
        "invariant_unchanged": _names(f for f in invariant if f["all_equivalent"]),
        "largest_alphas": sorted({f["alpha"] for f in found}),
        "n_claims": len(claims),
        "n_confirmed": len(claims) - len(contradicted),
        "n_contradicted": len(contradicted),
        "contradicted_claims": [c["claim_id"] for c in contradicted],
    }


# --- the grid's blocks, compared within each -------------------------------------------


def _index(comparisons: Iterable[Row], quantity: str = "test") -> dict[tuple, Row]:
    """The ``quantity`` rows by (cell..., alpha)."""
    return {
        (*(r[c] for c in CELL), r["alpha"]): r for r in comparisons if r["quantity"] == quantity
    }


def block_settings(block: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every setting a block crosses (task x precision x regularization x compensation),
    with the weight decay its regularization implies and the block's batch size and
    steps."""
    return [
        {
            "task": task,
            "precision": precision,
            "regularization": reg,
            "compensation": comp,
            "weight_decay": float(block["weight_decay"]) if reg != "none" else 0.0,
            **{key: block[key] for key in cells.REGIME},
        }
        for task, precision, reg, comp in itertools.product(
            block["tasks"], block["precisions"], block["regularizations"], block["compensations"]
        )
    ]


def setting_outcome(
    comparisons: Iterable[Row],
    setting: Mapping[str, Any],
    optimizers: Sequence[str],
    alphas: Iterable[float] | None = None,
) -> dict[str, Any]:
    """Every optimizer's comparisons in one setting, at ``alphas`` (all when None): the
    verdict at its largest alpha (``clauses``), and which optimizers were equivalent at
    every alpha or changed (better or worse) at some alpha."""
    keep = None if alphas is None else {float(a) for a in alphas} | {cells.REF_ALPHA}
    rows = [
        r
        for r in comparisons
        if r["optimizer"] in optimizers
        and all(r[a] == v for a, v in setting.items())
        and (keep is None or r["alpha"] in keep)
    ]
    found = [cell_finding(cell) for cell in _cells(rows).values()]
    order = {o: i for i, o in enumerate(optimizers)}
    found.sort(key=lambda f: order[f["optimizer"]])
    return {
        "n": len(found),
        "alpha": max((f["alpha"] for f in found), default=None),
        "clauses": clauses(found),
        "all_equivalent": _names(f for f in found if f["all_equivalent"]),
        "changed": _names(f for f in found if f["changed"]),
        # changed on the training metric only (the test verdicts stayed short of it)
        "changed_train_only": _names(
            f
            for f in found
            if not f["changed"]
            and (f["train_by_verdict"]["better"] or f["train_by_verdict"]["worse"])
        ),
        "counts": verdict_counts(rows),
        "cells": found,
    }


def block_findings(
    comparisons: list[Row], config: Mapping[str, Any], main: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Per block, per setting it crosses: the setting's outcome (``setting_outcome``).

    The main block's main setting is left out (the answer reports it in full); the
    ``varies`` flags say which axes the block crosses, so the text names only those.
    """
    out = []
    for name, block in cells.blocks(config).items():
        varies = {axis: len(block[key]) > 1 for axis, key in cells.AXES.items()}
        settings = []
        for setting in block_settings(block):
            if name == main["block"] and cells.in_setting(setting, main):
                continue
            outcome = setting_outcome(comparisons, setting, block["optimizers"], block["alphas"])
            if outcome["n"]:
                settings.append({**setting, **outcome})
        out.append({"name": name, "varies": varies, "settings": settings})
    return out


def asker_findings(comparisons: list[Row], config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The asker's alternative: wherever a block (not a phase block, whose runs the phase
    diagram reports) trains compensation ``lr_instead``
    (the loss unscaled, the learning rate times alpha), its largest alpha against the
    loss times the same alpha (compensation ``none``) where the grid has that too, on
    the test metric (``lr``, ``loss``) and the training metric (``lr_train``,
    ``loss_train``)."""
    index, train = _index(comparisons), _index(comparisons, "train")
    out = []
    for name, block in cells.blocks(config).items():
        if block["phase"] or "lr_instead" not in block["compensations"]:
            continue
        alpha = max(float(a) for a in block["alphas"])
        for setting in block_settings(block):
            if setting["compensation"] != "lr_instead":
                continue
            for opt in block["optimizers"]:
                key = [setting[c] if c != "optimizer" else opt for c in CELL]
                lr = index.get((*key, alpha))
                if lr is None:
                    continue
                lr_train = train.get((*key, alpha))
                key[CELL.index("compensation")] = "none"
                out.append(
                    {
                        "block": name,
                        **{c: setting[c] for c in ("task", "precision", "regularization")},
                        "optimizer": opt,
                        "label": label(opt),
                        "alpha": alpha,
                        "lr": effect(lr),
                        "loss": effect(index.get((*key, alpha))),
                        "lr_train": effect(lr_train),
                        "loss_train": effect(train.get((*key, alpha))),
                    }
                )
    return out


def focal_findings(
    comparisons: list[Row],
    tasks: Sequence[Mapping[str, Any]],
    main: Mapping[str, str],
    optimizers: Sequence[str],
) -> dict[str, Any] | None:
    """The focal-loss tasks against the cross-entropy ones at the main settings (tasks
    without comparisons left out; None when the grid trains no focal-loss task)."""
    if "focal" not in {t["objective"] for t in tasks}:
        return None
    groups: dict[str, list[dict[str, Any]]] = {"focal": [], "cross_entropy": []}
    for task in tasks:
        if task["objective"] not in groups:
            continue
        setting = {axis: main[axis] for axis in cells.SETTING_AXES} | {
            "task": task["name"],
            "weight_decay": 0.0,
        }
        outcome = setting_outcome(comparisons, setting, optimizers)
        if outcome["n"]:
            groups[task["objective"]].append({"task": task["name"], **outcome})
    return groups


def by_axis(blocks: Sequence[Mapping[str, Any]], axis: str) -> dict[str, dict[str, list[str]]]:
    """Over the blocks that cross ``axis`` (e.g. compensation), per value of it: the
    optimizers tested, those equivalent at every loss scale, those equivalent wherever
    both runs trained (and untrained in both elsewhere), those that trained at no loss
    scale, those changed (better or
    worse) at some loss scale, those that diverged at some loss scale, and the loss
    scales at which the final training metric ``moved`` (was not equivalent or
    inconclusive) for any of them."""
    out: dict[str, dict[str, list[str]]] = {}
    for block in blocks:
        if not block["varies"][axis]:
            continue
        for s in block["settings"]:
            entry = out.setdefault(
                s[axis],
                {"tested": [], "all_equivalent": [], "changed": [], "diverged": [], "moved": []}
                | {"equivalent_where_trained": [], "never_trained": []},
            )
            for f in s["cells"]:
                entry["tested"].append(f["label"])
                moved = f["train_by_verdict"]
                entry["moved"] += moved["better"] + moved["worse"] + moved["diverged"]
                if f["all_equivalent"]:
                    entry["all_equivalent"].append(f["label"])
                for key in ("equivalent_where_trained", "never_trained"):
                    if f[key]:
                        entry[key].append(f["label"])
                if f["changed"]:
                    entry["changed"].append(f["label"])
                if f["by_verdict"]["diverged"]:
                    entry["diverged"].append(f["label"])
    for entry in out.values():
        entry["moved"] = sorted(set(entry["moved"]))
    return {v: {k: list(dict.fromkeys(x)) for k, x in e.items()} for v, e in out.items()}
