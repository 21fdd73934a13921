"""The asker's phase diagram in the shape the text branches on: where the asker's
observation is reproduced, the predicted against measured boundaries, the controls, the
output-unscaled variant and the per-layer probe (asker_phase.csv,
asker_phase_boundaries.csv, layer_gradients.csv)."""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lossscale.report.findings import label
from lossscale.report.slices import ASKER_FACTOR, ASKER_OPTIMIZER, ASKER_TASK
from lossscale.study.cells import REF_ALPHA

Row = Mapping[str, Any]
#: The boundaries the table shows and the text counts, as (arm, boundary), in column
#: order (the eps arm repeats the loss arm; the lr arm's eps boundary is fixed by G/eps).
TABLE_BOUNDARIES = (
    ("loss", "normalized"),
    ("loss", "trains"),
    ("lr", "blows_up"),
    ("loss", "blows_up"),
)
#: How one loss magnitude relates to the asker's observation at one factor, in the order
#: the text reports them: reproduced (the unscaled loss does not train, the scaled loss
#: trains, the raised learning rate blows up); both train; the unscaled loss already
#: trains; the scaled loss does not train; other.
CASES = ("reproduced", "both_train", "unneeded", "too_small", "other")


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
    keys += ("n_exploded", "update_rms_first")
    return {k: row[k] for k in keys}


def _ratio(row: Row) -> float | None:
    """The unscaled gradient RMS at initialization over eps (None without eps)."""
    return None if row["eps"] is None else row["grad_rms_init"] / row["eps"]


def _case(ref: Row, loss: Row, lr: Row) -> str:
    """Which of ``CASES`` one loss magnitude is at one factor."""
    if loss["asker_pattern"]:
        return "reproduced"
    if ref["outcome"] == "trains":
        return "unneeded"
    if loss["outcome"] != "trains":
        return "too_small"
    return "both_train" if lr["outcome"] == "trains" else "other"


def _triples(rows: Sequence[Row]) -> Iterable[tuple[Row, Row, Row]]:
    """Per setting of an eps-type optimizer and factor above 1: the unscaled run, the loss
    and the learning rate times the factor."""
    for runs in _settings(r for r in rows if r["eps"] is not None).values():
        ref = runs.get(("loss", REF_ALPHA))
        for (arm, factor), loss in sorted(runs.items(), key=lambda kv: kv[0][1]):
            lr = runs.get(("lr", factor))
            if arm == "loss" and factor != REF_ALPHA and ref is not None and lr is not None:
                yield ref, loss, lr


def _cell_of(loss: Row) -> dict[str, Any]:
    """A (setting, factor) as the text names it, with the scaled gradient over eps."""
    return {
        "label": label(loss["optimizer"]),
        "task": loss["task"],
        "target_scale": loss["target_scale"],
        "output_scaled": loss["output_scaled"],
        "factor": loss["factor"],
        "scaled_over_eps": _ratio(loss) * loss["factor"],
    }


#: The outcomes the bands count: a setting that trained or stalled while a minority of
#: its seeds blew up counts as ``minority``.
BAND_OUTCOMES = ("trains", "stalls", "minority", "blows_up")


def _band_outcome(row: Row) -> str:
    """A setting's outcome in ``BAND_OUTCOMES``."""
    if row["outcome"] != "blows_up" and row["n_diverged"] + row["n_exploded"]:
        return "minority"
    return row["outcome"]


def _bands(cells: Sequence[tuple[float, str]]) -> list[dict[str, Any]]:
    """Cells (ratio, outcome) by decade of the ratio, neighbouring decades merged where
    every cell of both has the same outcome: per band the smallest and largest ratio, the
    number of cells, [outcome, number] pairs (``BAND_OUTCOMES`` order, those that occur) and
    the common outcome (None where they differ)."""
    decades: dict[int, list[tuple[float, str]]] = {}
    for ratio, result in sorted(cells):
        decades.setdefault(math.floor(math.log10(ratio)), []).append((ratio, result))
    bands: list[tuple[list[tuple[float, str]], str | None]] = []
    for group in decades.values():
        common = group[0][1] if len({o for _, o in group}) == 1 else None
        if bands and common is not None and bands[-1][1] == common:
            group = bands.pop()[0] + group
        bands.append((group, common))
    return [
        {
            "min": group[0][0],
            "max": group[-1][0],
            "n": len(group),
            "counts": [[o, n] for o in BAND_OUTCOMES if (n := sum(c[1] == o for c in group))],
            "outcome": common,
        }
        for group, common in bands
    ]


def _best(runs: Mapping[tuple[str, float], Row], arm: str, metric: str) -> Row | None:
    """The arm's setting with the lowest mean final ``metric`` among those that did not
    blow up (the lr arm: above factor 1, the loss arm: any factor)."""
    settings = [
        r
        for (a, f), r in runs.items()
        if a == arm
        and (arm == "loss" or f != REF_ALPHA)
        and r["outcome"] != "blows_up"
        and r[metric] is not None
        and math.isfinite(r[metric])
    ]
    return min(settings, key=lambda r: (r[metric], r["factor"]), default=None)


def _span(values: Iterable[float | None]) -> dict[str, float | None]:
    values = [v for v in values if v is not None]
    return {"min": min(values, default=None), "max": max(values, default=None)}


def pattern(rows: Sequence[Row], oversized: float) -> dict[str, Any]:
    """Where the asker's observation appears (the unscaled loss does not train, the loss
    times the factor trains, the learning rate times it blows up): its cells' scaled
    gradient over eps (factor x G / eps); how many of them had the raised learning rate's
    first update reach ``oversized`` times the parameters' RMS (the largest of the others);
    their test metrics (scaled loss, unscaled, the loss arm's best at any factor and how
    many of those came at a smaller factor); in how many cells the best raise of the
    learning rate by a smaller factor that did not blow up fit the training data better
    than the scaled loss (``lr_better``). ``bands``: over every cell with the output scaled whose unscaled loss
    did not train and whose scaled loss did, the raised learning rate's outcomes by
    decade of the scaled gradient over eps (``_bands``)."""
    runs = _settings(rows)
    found, rescued = [], []
    for ref, loss, lr in _triples(rows):
        if loss["asker_pattern"]:
            found.append((ref, loss, lr))
        if loss["output_scaled"] and ref["outcome"] != "trains" and loss["outcome"] == "trains":
            rescued.append((_cell_of(loss)["scaled_over_eps"], _band_outcome(lr)))
    ratios = [_cell_of(loss)["scaled_over_eps"] for _, loss, _ in found]
    small = [lr["update_rms_first"] for *_, lr in found if lr["update_rms_first"] < oversized]
    best_test = [(_best(runs[_key(loss)], "loss", "test_metric"), loss) for _, loss, _ in found]
    better = []  # (the best raised learning rate, the scaled loss) where the first fit better
    for _, loss, _ in found:
        lr = _best(runs[_key(loss)], "lr", "train_metric")
        if (
            lr is not None
            and lr["factor"] < loss["factor"]
            and lr["train_metric"] < loss["train_metric"]
        ):
            better.append((lr, loss))
    return {
        "n_reproduced": len(found),
        "optimizers": list(dict.fromkeys(label(loss["optimizer"]) for _, loss, _ in found)),
        "reproduced_min": min(ratios, default=None),
        "reproduced_max": max(ratios, default=None),
        "n_oversized": len(found) - len(small),
        "small_update_max": max(small, default=None),
        "test": {
            "loss": _span(loss["test_metric"] for _, loss, _ in found),
            "ref": _span(ref["test_metric"] for ref, _, _ in found),
            "best": _span(b["test_metric"] for b, _ in best_test if b is not None),
            "best_factor": _span(b["factor"] for b, _ in best_test if b is not None),
            "n_best_smaller": sum(
                b is not None and b["factor"] < c["factor"] for b, c in best_test
            ),
        },
        "lr_better": {
            "n": len(better),
            "lr": _span(lr["train_metric"] for lr, _ in better),
            "loss": _span(loss["train_metric"] for _, loss in better),
            "factor": _span(lr["factor"] for lr, _ in better),
            "test": _span(lr["test_metric"] for lr, _ in better),
            "loss_test": _span(loss["test_metric"] for _, loss in better),
            "optimizers": list(dict.fromkeys(label(lr["optimizer"]) for lr, _ in better)),
        },
        "n_rescued": len(rescued),
        "bands": _bands(rescued),
    }


def asker_scan(rows: Sequence[Row], factor: float) -> dict[str, Any]:
    """The asker's optimizer with the output scaled, at every loss magnitude, at the
    asker's ``factor``: the unscaled run, the loss and the learning rate times it, its
    case (``CASES``), whether the scaled gradient reaches eps there, and the smallest
    factor of the grid at which the raised learning rate blew up (None: at none)."""
    blows: dict[str, float] = {}
    for r in rows:
        if r["optimizer"] == ASKER_OPTIMIZER and r["arm"] == "lr" and r["outcome"] == "blows_up":
            blows[r["task"]] = min(r["factor"], blows.get(r["task"], math.inf))
    scan = []
    for ref, loss, lr in _triples(rows):
        if loss["optimizer"] != ASKER_OPTIMIZER or not loss["output_scaled"]:
            continue
        if loss["factor"] != factor:
            continue
        scan.append(
            _cell_of(loss)
            | {
                "grad_over_eps": _ratio(ref),
                "ref": _run(ref),
                "loss": _run(loss),
                "lr": _run(lr),
                "case": _case(ref, loss, lr),
                "lifted": _ratio(loss) * factor >= 1,
                "lr_blows_at": blows.get(loss["task"]),
            }
        )
    scan.sort(key=lambda s: s["target_scale"])
    return {
        "factor": factor,
        "optimizer": ASKER_OPTIMIZER,
        "label": label(ASKER_OPTIMIZER),
        "scan": scan,
        "cases": {case: [s for s in scan if s["case"] == case] for case in CASES},
        "reproduced": [s["target_scale"] for s in scan if s["case"] == "reproduced"],
        "mine": next((s for s in scan if s["task"] == ASKER_TASK), None),
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
        cells = [index.get((*key, arm, boundary)) for arm, boundary in TABLE_BOUNDARIES]
        out.append(
            {
                "optimizer": key[0],
                "label": label(key[0]),
                "task": key[1],
                "target_scale": first["target_scale"],
                "output_scaled": first["output_scaled"],
                "eps": first["eps"],
                "grad_over_eps": _ratio(first),
                "cells": [None if c is None else _cell(c) for c in cells],
            }
        )
    return out


def _geomean(values: Sequence[float]) -> float | None:
    values = [v for v in values if v > 0 and math.isfinite(v)]
    return math.exp(statistics.fmean(math.log(v) for v in values)) if values else None


def _direction(b: Row) -> str:
    """Whether a boundary came ``later`` or ``earlier`` than predicted (a censored one:
    on which side of the grid), or ``same`` within the agreement factor."""
    if b["agrees"]:
        return "same"
    if b["censored"] == "above" or (not b["censored"] and b["measured"] > b["predicted"]):
        return "later"
    return "earlier"


#: The boundary counts the text reports: key -> (arm, boundary, eps-type optimizers
#: (True) or SGD (False)); SGD's loss arm is its lr arm, so it is counted once.
COUNTS = {
    "loss_normalized": ("loss", "normalized", True),
    "loss_trains": ("loss", "trains", True),
    "lr_blows_up": ("lr", "blows_up", True),
    "loss_blows_up": ("loss", "blows_up", True),
    "sgd_blows_up": ("lr", "blows_up", False),
}


def boundary_counts(boundaries: Sequence[Row], rows: Sequence[Row]) -> dict[str, dict[str, Any]]:
    """Per ``COUNTS`` key, over the boundaries with a prediction: how many agree; how many
    the grid located (an uncensored measurement of a finite, positive prediction), how
    many of those agree, how many sit at the geometric midpoint of two neighbouring grid
    factors (where the outcome jumped between them, so known only to half a grid step),
    and their measured / predicted ratios (geometric mean, min, max); the disagreements by direction; those that never happened in the grid."""
    adaptive = {_key(r): r["eps"] is not None for r in rows}
    grid = sorted({r["factor"] for r in rows})
    midpoints = [math.sqrt(lo * hi) for lo, hi in itertools.pairwise(grid)]
    out = {}
    for name, (arm, boundary, eps_type) in COUNTS.items():
        judged = [
            b
            for b in boundaries
            if (b["arm"], b["boundary"]) == (arm, boundary)
            and adaptive.get(_key(b)) == eps_type
            and b["agrees"] is not None
        ]
        located = [b for b in judged if not b["censored"] and 0 < b["predicted"] < math.inf]
        ratios = [b["measured"] / b["predicted"] for b in located]
        directions = [_direction(b) for b in judged]
        never = [b for b in judged if b["censored"] == "above" and not b["agrees"]]
        out[name] = {
            "n": len(judged),
            "agree": sum(bool(b["agrees"]) for b in judged),
            "n_located": len(located),
            "agree_located": sum(bool(b["agrees"]) for b in located),
            "n_midpoint": sum(
                any(math.isclose(b["measured"], m, rel_tol=1e-9) for m in midpoints)
                for b in located
            ),
            "ratio_geomean": _geomean(ratios),
            "ratio_min": min(ratios, default=None),
            "ratio_max": max(ratios, default=None),
            "later": directions.count("later"),
            "earlier": directions.count("earlier"),
            "n_never": len(never),
            "never_unscaled": all(not b["output_scaled"] for b in never),
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
    settings compared (factors above 1), those with the same outcome, the largest
    difference of the mean final training metric relative to the loss arm's, over all of
    them and over those where the loss arm trains."""
    out = {}
    for name, other, keep in (
        ("eps", "eps", lambda r: r["eps"] is not None),
        ("sgd", "lr", lambda r: r["eps"] is None),
    ):
        pairs = []
        for runs in _settings(r for r in rows if keep(r)).values():
            for (arm, factor), row in runs.items():
                loss = runs.get(("loss", factor))
                if arm == other and factor != REF_ALPHA and loss is not None:
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
    """Per optimizer and task with the output unscaled: the unscaled run, the best mean
    final training metric over every other arm and factor that did not blow up (None
    where none beats the unscaled run), and the settings that trained (factor 1 once)."""
    out = []
    for key, runs in _settings(r for r in rows if not r["output_scaled"]).items():
        ref = runs.get(("loss", REF_ALPHA))
        changed = [
            r
            for (arm, factor), r in runs.items()
            if factor != REF_ALPHA and r["outcome"] != "blows_up" and r["train_metric"] is not None
        ]
        best = min(changed, key=lambda r: (r["train_metric"], r["factor"]), default=None)
        if ref is not None and best is not None and best["train_metric"] >= ref["train_metric"]:
            best = None
        trains = {(a, f) for (a, f), r in runs.items() if r["outcome"] == "trains"}
        trains = {("loss", f) if f == REF_ALPHA else (a, f) for a, f in trains}
        out.append(
            {
                "optimizer": key[0],
                "label": label(key[0]),
                "task": key[1],
                "target_scale": next(iter(runs.values()))["target_scale"],
                "ref": _run(ref),
                "best": None if best is None else _run(best) | {"arm": best["arm"]},
                "n_trains": len(trains),
                "n_settings": len({("loss", f) if f == REF_ALPHA else (a, f) for a, f in runs}),
            }
        )
    return out


def _mean(values: Iterable[float]) -> float:
    return statistics.fmean(values)


def layer_summary(rows: Sequence[Row], factor: float, settings: Mapping[str, float]) -> dict | None:
    """The per-layer probe at ``factor`` (the asker's, else the largest probed): per layer
    the mean gradient RMS / eps at initialization, its value times the factor, the mean
    first update (relative to the layer's parameters) at factor 1 and for the loss and the
    learning-rate arm at ``factor``, their gains (the loss arm's largest, the lr arm's
    smallest) and the distance travelled; whether the
    first layer is the deepest in the eps regime; the spread of the gradients over the
    hidden layers and of the first updates over all layers; per arm the final training
    metric (mean and range over seeds) at ``factor`` and at the largest factor, with the
    phase diagram's outcome thresholds ``settings`` (trains, explode)."""
    if not rows:
        return None
    present = sorted({r["factor"] for r in rows})
    factor = factor if factor in present else present[-1]
    layers = sorted({r["layer"] for r in rows})

    def pick(layer: int, arm: str | None = None, at: float = REF_ALPHA) -> list[Row]:
        return [
            r
            for r in rows
            if r["layer"] == layer and (arm is None or (r["arm"] == arm and r["factor"] == at))
        ]

    table = []
    for n in layers:
        g = _mean(r["grad_over_eps"] for r in pick(n))
        ref = _mean(r["update_rms_first"] for r in pick(n, "loss"))
        row = {"layer": n, "n_params": pick(n)[0]["n_params"], "grad_over_eps": g}
        row |= {"scaled_over_eps": g * factor, "update_ref": ref}
        for arm in ("loss", "lr"):
            update = _mean(r["update_rms_first"] for r in pick(n, arm, factor))
            row[f"update_{arm}"] = update
            row[f"gain_{arm}"] = update / ref if ref else None
            row[f"distance_{arm}"] = _mean(r["distance"] for r in pick(n, arm, factor))
        table.append(row)
    first, last = table[0], table[-1]
    hidden = [t["grad_over_eps"] for t in table[:-1]] or [first["grad_over_eps"]]

    def metric(arm: str, at: float) -> dict[str, float]:
        values = [r["train_metric"] for r in pick(1, arm, at)]
        return {"mean": _mean(values), "min": min(values), "max": max(values)}

    ref_metric = metric("loss", REF_ALPHA)
    top = present[-1]
    outcome = {}
    for arm in ("loss", "lr"):
        m = metric(arm, top)["mean"]
        blew = not math.isfinite(m) or m > settings["explode"] * ref_metric["mean"]
        outcome[arm] = "blows_up" if blew else "trains" if m <= settings["trains"] else "stalls"
    return {
        "task": rows[0]["task"],
        "optimizer": rows[0]["optimizer"],
        "label": label(rows[0]["optimizer"]),
        "factor": factor,
        "n_layers": len(table),
        "layers": table,
        "deepest": min(table, key=lambda t: t["grad_over_eps"])["layer"],
        "first_deepest": min(table, key=lambda t: t["grad_over_eps"]) is first,
        "hidden_spread": max(hidden) / min(hidden),
        "output_over_first": last["grad_over_eps"] / first["grad_over_eps"],
        "hidden_lifted": all(t["scaled_over_eps"] >= 1 for t in table[:-1]),
        "spread_ref": last["update_ref"] / first["update_ref"] if first["update_ref"] else None,
        "spread_loss": last["update_loss"] / first["update_loss"] if first["update_loss"] else None,
        "spread_lr": last["update_lr"] / first["update_lr"] if first["update_lr"] else None,
        "gain_loss_max": max(t["gain_loss"] or 0.0 for t in table),
        "gain_lr_min": min(t["gain_lr"] or 0.0 for t in table),
        "hidden_scaled": _span(t["scaled_over_eps"] for t in table[:-1]),
        "first_farther": "lr" if first["distance_lr"] > first["distance_loss"] else "loss",
        "metric": {arm: metric(arm, factor) for arm in ("loss", "lr")},
        "top_factor": top,
        "top_metric": {arm: metric(arm, top) for arm in ("loss", "lr")},
        "top_outcome": outcome,
    }


def _lr_blowups(boundaries: Sequence[Row], rows: Sequence[Row], oversized: float) -> dict[str, Any]:
    """Where the learning-rate arm of the eps-type optimizers (output scaled) first blew
    up inside the grid although the unscaled gradient is below eps: factor x G / eps
    there, the parameters' RMS over the learning rate (the theory's threshold) and the
    measured over the predicted factor (``vs_predicted``); over
    all its settings above factor 1, the smallest first update (over the parameters' RMS)
    of those that blew up, and how many of those whose first update reached ``oversized``
    did not."""
    ratio = {_key(r): (_ratio(r), r["param_rms_init"] / r["lr"]) for r in rows if r["eps"]}
    hits = [
        (b["measured"] * ratio[_key(b)][0], ratio[_key(b)][1], b["measured"] / b["predicted"])
        for b in boundaries
        if b["arm"] == "lr" and b["boundary"] == "blows_up" and b["output_scaled"]
        and _key(b) in ratio and not b["censored"] and ratio[_key(b)][0] < 1
    ]  # fmt: skip
    arm = [
        r for r in rows
        if r["arm"] == "lr" and r["eps"] is not None and r["output_scaled"]
        and r["factor"] != REF_ALPHA
    ]  # fmt: skip
    oversize = [r for r in arm if r["update_rms_first"] >= oversized]
    return {
        "n": len(hits),
        "min": min((h[0] for h in hits), default=None),
        "max": max((h[0] for h in hits), default=None),
        "p_over_lr_min": min((h[1] for h in hits), default=None),
        "p_over_lr_max": max((h[1] for h in hits), default=None),
        "vs_predicted": _span(h[2] for h in hits),
        "first_update_min": min(
            (r["update_rms_first"] for r in arm if r["outcome"] == "blows_up"), default=None
        ),
        "n_oversized": len(oversize),
        "n_oversized_stable": sum(r["outcome"] != "blows_up" for r in oversize),
    }


def _sgd_rates(rows: Sequence[Row]) -> dict[float, dict[str, None]]:
    """SGD's learning rates in the map (rows without eps), each with its tasks in order."""
    rates: dict[float, dict[str, None]] = {}
    for r in rows:
        if r["eps"] is None:
            rates.setdefault(r["lr"], {})[r["task"]] = None
    return rates


def phase_summary(
    rows: Sequence[Row],
    boundaries: Sequence[Row],
    layers: Sequence[Row],
    settings: Mapping[str, float],
) -> dict[str, Any]:
    """Everything the text and the tables say about the phase diagram (``n`` 0 without
    one; the layer probe stands on its own); ``settings``: the config's phase section."""
    factors = sorted({r["factor"] for r in rows})
    factor = ASKER_FACTOR if ASKER_FACTOR in factors else (factors[-1] if factors else ASKER_FACTOR)
    summary: dict[str, Any] = {"n": len(rows), "layers": layer_summary(layers, factor, settings)}
    if not rows:
        return summary
    adaptive = [r for r in rows if r["eps"] is not None and r["factor"] != REF_ALPHA]
    blown = [r for r in rows if r["outcome"] != "blows_up" and r["n_diverged"] + r["n_exploded"]]
    return summary | {
        "factors": factors,
        "factor_min": factors[0],
        "factor_max": factors[-1],
        "half_step": max(
            (math.sqrt(hi / lo) for lo, hi in itertools.pairwise(factors)), default=None
        ),
        "scales": sorted({r["target_scale"] for r in rows if r["output_scaled"]}),
        "optimizers": list(dict.fromkeys(label(r["optimizer"]) for r in rows)),
        "eps": [
            {"label": label(o), "eps": e, "lr": lr}
            for o, e, lr in dict.fromkeys((r["optimizer"], r["eps"], r["lr"]) for r in adaptive)
        ],
        # SGD's learning rates with the tasks that use each (a task may set its own)
        "sgd_lrs": [{"lr": lr, "tasks": list(tasks)} for lr, tasks in _sgd_rates(rows).items()],
        "n_seeds": max(r["n_seeds"] for r in rows),
        "n_seeds_min": min(r["n_seeds"] for r in rows),
        "asker": asker_scan(rows, factor),
        "pattern": pattern(rows, settings["oversized"]),
        "lr_blowups": _lr_blowups(boundaries, rows, settings["oversized"]),
        "table": boundary_rows(rows, boundaries),
        "counts": boundary_counts(boundaries, rows),
        "controls": controls(rows),
        "unscaled": unscaled(rows),
        "n_minority": len(blown),
        "minority_max_metric": max((r["train_metric"] for r in blown), default=None),
        "adaptive_diverged": sum(r["n_diverged"] for r in adaptive),
        "loss_blows_up": sum(r["arm"] == "loss" and r["outcome"] == "blows_up" for r in adaptive),
        "n_adaptive_loss": sum(r["arm"] == "loss" for r in adaptive),
        "lr_blows_up": sum(r["arm"] == "lr" and r["outcome"] == "blows_up" for r in adaptive),
        "n_adaptive_lr": sum(r["arm"] == "lr" for r in adaptive),
    }
