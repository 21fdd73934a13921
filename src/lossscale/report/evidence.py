"""The mechanisms the paper tests beyond the verdicts: the eps knee (knee.csv), round-off
against effect (roundoff.csv) and loss magnitude as a loss scale (magnitude.csv),
summarized for the text and its tables."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from lossscale.report.findings import label

Row = Mapping[str, Any]


def _geomean(values: Sequence[float]) -> float | None:
    return math.exp(statistics.fmean(math.log(v) for v in values)) if values else None


def knee_summary(rows: Sequence[Row]) -> dict[str, Any]:
    """Predicted against measured knees: the table's rows (with labels) and counts.

    ``agree``/``disagree`` count the cells whose measurement (or its censored bound)
    is/is not within the factor of the prediction; ``flat`` cells had no bend to measure.
    The geometric mean of measured / predicted is over the uncensored cells.
    """
    table = [{**r, "label": label(r["optimizer"])} for r in rows]
    uncensored = [r["ratio"] for r in rows if not r["censored"] and r["ratio"]]
    by_update = {}
    for name in ("first", "run"):
        located = [
            r[f"update_knee_{name}"] / r["predicted_knee"]
            for r in rows
            if not r[f"update_{name}_censored"] and r[f"update_knee_{name}"] and r["predicted_knee"]
        ]
        by_update[name] = {
            "agree": sum(r[f"update_{name}_agrees"] is True for r in rows),
            # of those, the knees outside the grid (a bound) with the prediction outside too
            "agree_bounds": sum(
                r[f"update_{name}_agrees"] is True and bool(r[f"update_{name}_censored"])
                for r in rows
            ),
            "disagree": sum(r[f"update_{name}_agrees"] is False for r in rows),
            "n_located": len(located),
            "ratio_geomean": _geomean(located),
            "ratio_min": min(located, default=None),
            "ratio_max": max(located, default=None),
        }
    budgets: dict[tuple, list[Row]] = {}
    for r in table:
        budgets.setdefault((r["task"], r["optimizer"]), []).append(r)
    return {
        "by_update": by_update,
        # the same optimizer and task at several step budgets: what the budget moves
        "budgets": [
            {"task": t, "label": label(o), "rows": sorted(rs, key=lambda r: r["steps"])}
            for (t, o), rs in budgets.items()
            if len({r["steps"] for r in rs}) > 1
        ],
        "rows": table,
        "n": len(rows),
        "agree": sum(r["agrees"] is True for r in rows),
        "agree_bounds": sum(
            r["agrees"] is True and r["censored"] in ("below", "above") for r in rows
        ),
        "disagree": [r for r in table if r["agrees"] is False],
        "flat": sum(r["censored"] == "flat" for r in rows),
        "censored": sum(r["censored"] in ("below", "above") for r in rows),
        "n_uncensored": len(uncensored),
        "ratio_geomean": _geomean(uncensored),
        "ratio_min": min(uncensored, default=None),
        "ratio_max": max(uncensored, default=None),
        # located knees above the prediction: training began only once the step was
        # normalized
        "late": [r for r in table if not r["censored"] and r["ratio"] and r["ratio"] > 1],
        "tasks": list(dict.fromkeys(r["task"] for r in rows)),
        "n_tasks_located": len({r["task"] for r in rows if not r["censored"] and r["ratio"]}),
    }


def _max(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def roundoff_summary(rows: Sequence[Row]) -> dict[str, Any]:
    """Exactly undone loss scales: bit-identity at powers of two, the round-off at other
    alphas against the seed-to-seed spread, and the uncompensated effect beside it.

    One table row per cell: powers of two bitwise (k of n), the largest round-off ratio
    at other alphas (and the alphas where it reached 1), the largest uncompensated ratio.
    """
    cells: dict[tuple, list[Row]] = {}
    for r in rows:
        key = (r["task"], r["optimizer"], r["precision"], r["regularization"], r["compensation"])
        cells.setdefault(key, []).append(r)
    table = []
    for (task, opt, precision, reg, comp), group in cells.items():
        powers = [r for r in group if r["power_of_two"]]
        others = [r for r in group if not r["power_of_two"]]
        noisy = sorted(r["alpha"] for r in others if r["ratio"] is not None and r["ratio"] >= 1)
        table.append(
            {
                "noisy_alphas": noisy,
                "task": task,
                "optimizer": opt,
                "label": label(opt),
                "precision": precision,
                "regularization": reg,
                "compensation": comp,
                "trains": all(r["trains"] for r in group),
                "n_powers": len(powers),
                "n_powers_bitwise": sum(bool(r["bitwise"]) for r in powers),
                "n_others": len(others),
                "max_ratio": _max([r["ratio"] for r in others]),
                "max_quiet": _max([r["ratio"] for r in others if r["alpha"] not in noisy]),
                "max_uncompensated_ratio": _max([r["uncompensated_ratio"] for r in others]),
            }
        )
    powers = [r for r in rows if r["power_of_two"]]
    others = [r for r in rows if not r["power_of_two"]]
    exceptions = [t for t in table if t["noisy_alphas"]]
    training = [t for t in table if t["trains"]]
    return {
        # the bound that means something: cells whose reference run trains
        "n_cells_training": len(training),
        "max_ratio_training": _max([t["max_ratio"] for t in training]),
        "max_ratio_rest_training": _max(
            [t["max_ratio"] for t in training if not t["noisy_alphas"]]
        ),
        "training_tasks": list(dict.fromkeys(t["task"] for t in training)),
        # cells where round-off reached the seed-to-seed spread, and the largest ratio
        # of all the others
        "exceptions": exceptions,
        "max_ratio_rest": _max([t["max_ratio"] for t in table if not t["noisy_alphas"]]),
        # the exceptions' largest ratio, at the alphas where it reached 1 and elsewhere
        "exceptions_max": _max([t["max_ratio"] for t in exceptions]),
        "exceptions_alphas": sorted({a for t in exceptions for a in t["noisy_alphas"]}),
        "exceptions_max_quiet": _max([t["max_quiet"] for t in exceptions]),
        "rows": table,
        "n_cells": len(table),
        "n_powers": len(powers),
        "n_powers_bitwise": sum(bool(r["bitwise"]) for r in powers),
        "n_others": len(others),
        "max_ratio": _max([r["ratio"] for r in others]),
        "max_uncompensated_ratio": _max([r["uncompensated_ratio"] for r in others]),
        # per optimizer (its label): the largest uncompensated ratio over its cells
        "uncompensated_by_label": {
            name: _max([t["max_uncompensated_ratio"] for t in table if t["label"] == name])
            for name in dict.fromkeys(t["label"] for t in table)
        },
    }


def magnitude_summary(rows: Sequence[Row]) -> dict[str, Any]:
    """Runs of two tasks whose losses differ by a constant factor, at loss scales that
    undo it: how many pairs, and how far apart against the seed-to-seed spread."""
    paired = [r for r in rows if r["n_pairs"] and r["n_pairs"] >= 2]
    ratios = [r["ratio"] for r in paired if r["ratio"] is not None]
    return {
        "n": len(rows),
        "n_paired": len(paired),
        "pairs": list(dict.fromkeys((r["task"], r["other_task"]) for r in rows)),
        "optimizers": [label(o) for o in dict.fromkeys(r["optimizer"] for r in rows)],
        "max_ratio": _max(ratios),
        "median_ratio": statistics.median(ratios) if ratios else None,
        "n_within_sd": sum(v < 1 for v in ratios),
        "n_diverged": sum(r["n_diverged"] > 0 for r in rows),
    }
