"""The asker's phase diagram in the shape the text branches on: where the asker's
observation is reproduced, the predicted against measured boundaries, the controls, and
the per-layer probe (asker_phase.csv, asker_phase_boundaries.csv, layer_gradients.csv)."""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lossscale.report.findings import label
from lossscale.stats.slices import ASKER_FACTOR, ASKER_OPTIMIZER, ASKER_TASK, REF_ALPHA

Row = Mapping[str, Any]
#: The boundaries of the table, as (arm, boundary) pairs, in column order.
TABLE_BOUNDARIES = (
    ("loss", "normalized"),
    ("loss", "trains"),
    ("lr", "blows_up"),
    ("loss", "blows_up"),
)


def _key(row: Row) -> tuple:
    return (row["optimizer"], row["task"], row["precision"])


def _settings(rows: Iterable[Row]) -> dict[tuple, dict[tuple[str, float], Row]]:
    """The phase rows by (optimizer, task, precision), then by (arm, factor)."""
    out: dict[tuple, dict[tuple[str, float], Row]] = {}
    for r in rows:
        out.setdefault(_key(r), {})[(r["arm"], r["factor"])] = r
    return out


def _run(row: Row | None) -> dict[str, Any] | None:
    """One setting as the text uses it."""
    if row is None:
        return None
    keys = ("factor", "outcome", "train_metric", "test_metric", "n_seeds", "n_diverged")
    return {k: row[k] for k in keys} | {"n_exploded": row["n_exploded"]}


def _ratio(row: Row) -> float | None:
    """The unscaled gradient RMS at initialization over eps (None without eps)."""
    return None if row["eps"] is None else row["grad_rms_init"] / row["eps"]


#: How one loss magnitude relates to the asker's observation, in the order the text
#: reports them: reproduced (the unscaled loss does not train, the scaled loss trains,
#: the raised learning rate blows up); both train (the loss and the learning rate times
#: the factor); the unscaled loss already trains; the scaled loss does not train; other.
CASES = ("reproduced", "both_train", "unneeded", "too_small", "other")


def _case(ref: Row, loss: Row, lr: Row) -> str:
    """Which of ``CASES`` one loss magnitude is."""
    if ref["outcome"] == "trains":
        return "unneeded"
    if loss["outcome"] != "trains":
        return "too_small"
    return {"blows_up": "reproduced", "trains": "both_train"}.get(lr["outcome"], "other")


def asker_scan(rows: Sequence[Row], factor: float) -> dict[str, Any]:
    """The asker's optimizer with the output scaled, at every loss magnitude: the unscaled
    run, the loss and the learning rate times ``factor``, and whether the asker's
    observation (the unscaled run does not train, the scaled loss does, the raised
    learning rate blows up) is reproduced there."""
    scan = []
    for (_, task, _), runs in _settings(
        r for r in rows if r["optimizer"] == ASKER_OPTIMIZER and r["output_scaled"]
    ).items():
        ref, loss, lr = (
            runs.get(k) for k in (("loss", REF_ALPHA), ("loss", factor), ("lr", factor))
        )
        if ref is None or loss is None or lr is None:
            continue
        scan.append(
            {
                "task": task,
                "target_scale": ref["target_scale"],
                "grad_rms_init": ref["grad_rms_init"],
                "grad_over_eps": _ratio(ref),
                "ref": _run(ref),
                "loss": _run(loss),
                "lr": _run(lr),
                "case": _case(ref, loss, lr),
                # the scaled gradient reaches eps at this factor (theory: normalized)
                "lifted": ref["eps"] is not None and ref["grad_rms_init"] * factor >= ref["eps"],
            }
        )
    scan.sort(key=lambda s: s["target_scale"])
    mine = next((s for s in scan if s["task"] == ASKER_TASK), None)
    ratios = [s["grad_over_eps"] for s in scan if s["case"] == "reproduced"]
    return {
        "factor": factor,
        "optimizer": ASKER_OPTIMIZER,
        "label": label(ASKER_OPTIMIZER),
        "scan": scan,
        "cases": {case: [s for s in scan if s["case"] == case] for case in CASES},
        "reproduced": [s["target_scale"] for s in scan if s["case"] == "reproduced"],
        "reproduced_ratio_min": min(ratios, default=None),
        "reproduced_ratio_max": max(ratios, default=None),
        "mine": mine,
    }


def _cell(b: Row) -> dict[str, Any]:
    """A boundary as the table shows it: the prediction (None where the theory says
    nothing, ``never`` where it is infinite), the measured factor and its censoring."""
    predicted = b["predicted"]
    never = predicted is not None and math.isinf(predicted)
    return {
        "predicted": None if never else predicted,
        "never": never,
        "measured": b["measured"],
        "censored": b["censored"],
        "agrees": b["agrees"],
    }


def boundary_rows(rows: Sequence[Row], boundaries: Sequence[Row]) -> list[dict[str, Any]]:
    """One table row per (optimizer, task): gradient RMS / eps and, per
    ``TABLE_BOUNDARIES``, the predicted and measured factor (with censoring)."""
    index = {(*_key(b), b["arm"], b["boundary"]): b for b in boundaries}
    out = []
    for key, runs in _settings(rows).items():
        first = next(iter(runs.values()))
        cells = []
        for arm, boundary in TABLE_BOUNDARIES:
            b = index.get((*key, arm, boundary))
            cells.append(None if b is None else _cell(b))
        out.append(
            {
                "optimizer": key[0],
                "label": label(key[0]),
                "task": key[1],
                "target_scale": first["target_scale"],
                "output_scaled": first["output_scaled"],
                "eps": first["eps"],
                "grad_over_eps": _ratio(first),
                "cells": cells,
            }
        )
    return out


def _geomean(values: Sequence[float]) -> float | None:
    values = [v for v in values if v > 0 and math.isfinite(v)]
    return math.exp(statistics.fmean(math.log(v) for v in values)) if values else None


def _disagreement(b: Row) -> dict[str, Any]:
    keys = ("optimizer", "task", "arm", "target_scale", "output_scaled")
    keys += ("predicted", "measured", "censored")
    return {k: b[k] for k in keys} | {"label": label(b["optimizer"])}


def _disagreement(b: Row) -> dict[str, Any]:
    """A boundary whose prediction failed, as the text names it."""
    keys = ("optimizer", "task", "arm", "target_scale", "output_scaled")
    keys += ("predicted", "measured", "censored")
    return {k: b[k] for k in keys} | {"label": label(b["optimizer"])}


def boundary_counts(boundaries: Sequence[Row]) -> dict[str, dict[str, Any]]:
    """Per boundary kind: rows with a prediction, how many agree, those that do not, and
    the geometric mean of measured / predicted over the uncensored rows that disagree."""
    out = {}
    for kind in ("normalized", "trains", "blows_up"):
        judged = [b for b in boundaries if b["boundary"] == kind and b["agrees"] is not None]
        wrong = [b for b in judged if not b["agrees"]]
        ratios = [
            b["measured"] / b["predicted"] for b in wrong if not b["censored"] and b["predicted"]
        ]
        out[kind] = {
            "n": len(judged),
            "agree": len(judged) - len(wrong),
            "disagree": [_disagreement(b) for b in wrong],
            "ratio_geomean": _geomean(ratios),
            "later": sum(r > 1 for r in ratios),
            "earlier": sum(r < 1 for r in ratios),
        }
    return out


def _max_rel_diff(pairs: Sequence[tuple[Row, Row]]) -> float | None:
    """The largest |b - a| / |a| of the pairs' mean final training metrics (None: none)."""
    diffs = [
        abs(b["train_metric"] - a["train_metric"]) / abs(a["train_metric"])
        for a, b in pairs
        if a["train_metric"] and b["train_metric"] is not None
    ]
    return max(diffs, default=None)


def controls(rows: Sequence[Row]) -> dict[str, Any]:
    """The two controls: eps / factor against the loss times factor (Adam-type: exactly
    equivalent), and SGD's learning rate against its loss times factor (exactly equal):
    settings compared, those with the same outcome, the largest difference of the mean
    final training metric relative to the loss arm's, over all of them and over those
    where the loss arm trains."""
    out = {}
    for name, other, keep in (
        ("eps", "eps", lambda r: r["eps"] is not None),
        ("sgd", "lr", lambda r: r["eps"] is None),
    ):
        pairs = []
        for runs in _settings(r for r in rows if keep(r)).values():
            for (arm, factor), row in runs.items():
                loss = runs.get(("loss", factor))
                if arm == other and loss is not None:
                    pairs.append((loss, row))
        out[name] = {
            "n": len(pairs),
            "same_outcome": sum(a["outcome"] == b["outcome"] for a, b in pairs),
            "max_rel_diff": _max_rel_diff(pairs),
            "n_trains": sum(a["outcome"] == "trains" for a, _ in pairs),
            "max_rel_diff_trains": _max_rel_diff([p for p in pairs if p[0]["outcome"] == "trains"]),
        }
    return out


def unscaled(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Per optimizer and task with the output unscaled: the best mean final training
    metric over every arm and factor (and where), and the unscaled run's."""
    out = []
    for key, runs in _settings(r for r in rows if not r["output_scaled"]).items():
        finite = [
            r for r in runs.values() if r["train_metric"] is not None and r["outcome"] != "blows_up"
        ]
        best = min(finite, key=lambda r: (r["train_metric"], r["factor"])) if finite else None
        ref = runs.get(("loss", REF_ALPHA))
        out.append(
            {
                "optimizer": key[0],
                "label": label(key[0]),
                "task": key[1],
                "target_scale": next(iter(runs.values()))["target_scale"],
                "ref": _run(ref),
                "best": None if best is None else {**_run(best), "arm": best["arm"]},
                "trains": sorted(
                    {(r["arm"], r["factor"]) for r in runs.values() if r["outcome"] == "trains"}
                ),
            }
        )
    return out


def layer_summary(rows: Sequence[Row], factor: float) -> dict[str, Any] | None:
    """The per-layer probe: per layer the mean gradient RMS / eps at initialization, and
    the mean first update (relative to the layer's parameters) at factor 1 and at
    ``factor`` for the loss and the learning-rate arm; whether the first layer is the
    deepest in the eps regime; the spread (last over first layer) of the first update."""
    if not rows:
        return None

    def mean(layer: int, column: str, arm: str | None = None, at: float = REF_ALPHA) -> float:
        values = [
            r[column]
            for r in rows
            if r["layer"] == layer and (arm is None or (r["arm"] == arm and r["factor"] == at))
        ]
        return statistics.fmean(values)

    present = sorted({r["factor"] for r in rows})
    factor = factor if factor in present else present[-1]
    layers = sorted({r["layer"] for r in rows})
    table = [
        {
            "layer": n,
            "n_params": next(r["n_params"] for r in rows if r["layer"] == n),
            "grad_over_eps": mean(n, "grad_over_eps"),
            "update_ref": mean(n, "update_rms_first", "loss"),
            "update_loss": mean(n, "update_rms_first", "loss", factor),
            "update_lr": mean(n, "update_rms_first", "lr", factor),
            "distance_loss": mean(n, "distance", "loss", factor),
            "distance_lr": mean(n, "distance", "lr", factor),
        }
        for n in layers
    ]
    for t in table:
        t["gain_loss"] = t["update_loss"] / t["update_ref"] if t["update_ref"] else None
        t["gain_lr"] = t["update_lr"] / t["update_ref"] if t["update_ref"] else None
    first, last = table[0], table[-1]
    deepest = min(table, key=lambda t: t["grad_over_eps"])
    metric = {
        arm: statistics.fmean(
            r["train_metric"]
            for r in rows
            if r["arm"] == arm and r["factor"] == factor and r["layer"] == 1
        )
        for arm in ("loss", "lr")
    }
    return {
        "task": rows[0]["task"],
        "optimizer": rows[0]["optimizer"],
        "label": label(rows[0]["optimizer"]),
        "factor": factor,
        "n_layers": len(table),
        "layers": table,
        "deepest": deepest["layer"],
        "first_deepest": deepest["layer"] == first["layer"],
        "monotone": all(
            a["grad_over_eps"] <= b["grad_over_eps"] for a, b in itertools.pairwise(table)
        ),
        "spread_ref": last["update_ref"] / first["update_ref"] if first["update_ref"] else None,
        "spread_loss": last["update_loss"] / first["update_loss"] if first["update_loss"] else None,
        "spread_lr": last["update_lr"] / first["update_lr"] if first["update_lr"] else None,
        "gain_first_loss": first["gain_loss"],
        "gain_last_loss": last["gain_loss"],
        "metric": metric,
        "ref_metric": statistics.fmean(
            r["train_metric"]
            for r in rows
            if r["arm"] == "loss" and r["factor"] == REF_ALPHA and r["layer"] == 1
        ),
    }


def phase_summary(
    rows: Sequence[Row], boundaries: Sequence[Row], layers: Sequence[Row]
) -> dict[str, Any]:
    """Everything the text and the tables say about the phase diagram (``n`` 0 without
    one; the layer probe stands on its own)."""
    factors = sorted({r["factor"] for r in rows})
    factor = ASKER_FACTOR if ASKER_FACTOR in factors else (factors[-1] if factors else ASKER_FACTOR)
    summary: dict[str, Any] = {"n": len(rows), "layers": layer_summary(layers, factor)}
    if not rows:
        return summary
    scaled = [r for r in rows if r["output_scaled"]]
    adaptive = [r for r in scaled if r["eps"] is not None]
    return summary | {
        "factors": factors,
        "factor_min": factors[0],
        "factor_max": factors[-1],
        "scales": sorted({r["target_scale"] for r in scaled}),
        "optimizers": list(dict.fromkeys(label(r["optimizer"]) for r in rows)),
        "eps": [
            {"label": label(o), "eps": e}
            for o, e in dict.fromkeys((r["optimizer"], r["eps"]) for r in adaptive)
        ],
        "n_seeds": max(r["n_seeds"] for r in rows),
        "asker": asker_scan(rows, factor),
        "table": boundary_rows(rows, boundaries),
        "counts": boundary_counts(boundaries),
        "controls": controls(rows),
        "unscaled": unscaled(rows),
        "n_blows_up": sum(r["outcome"] == "blows_up" for r in rows),
        "n_diverged_settings": sum(
            r["outcome"] == "blows_up" and r["n_diverged"] > 0 for r in rows
        ),
        "loss_blows_up": [
            {
                "label": label(r["optimizer"]),
                "target_scale": r["target_scale"],
                "factor": r["factor"],
            }
            for r in adaptive
            if r["arm"] == "loss" and r["outcome"] == "blows_up"
        ],
        "lr_blows_up": sum(r["arm"] == "lr" and r["outcome"] == "blows_up" for r in adaptive),
        "n_adaptive_lr": sum(r["arm"] == "lr" for r in adaptive),
    }
