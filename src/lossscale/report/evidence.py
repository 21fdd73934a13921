"""The two mechanisms the paper tests beyond the verdicts: the eps knee (knee.csv) and
round-off against effect (roundoff.csv), summarized for the text and its tables."""

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
    return {
        "rows": table,
        "n": len(rows),
        "agree": sum(r["agrees"] is True for r in rows),
        "disagree": [r for r in table if r["agrees"] is False],
        "flat": sum(r["censored"] == "flat" for r in rows),
        "censored": sum(r["censored"] in ("below", "above") for r in rows),
        "n_uncensored": len(uncensored),
        "ratio_geomean": _geomean(uncensored),
        "ratio_min": min(uncensored, default=None),
        "ratio_max": max(uncensored, default=None),
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
    return {
        # cells where round-off reached the seed-to-seed spread, and the largest ratio
        # of all the others
        "exceptions": exceptions,
        "max_ratio_rest": _max([t["max_ratio"] for t in table if not t["noisy_alphas"]]),
        # the exceptions' largest ratio, at the alphas where it reached 1 and elsewhere
        "exceptions_max": _max([t["max_ratio"] for t in exceptions]),
        "exceptions_max_quiet": _max([t["max_quiet"] for t in exceptions]),
        "rows": table,
        "n_cells": len(table),
        "n_powers": len(powers),
        "n_powers_bitwise": sum(bool(r["bitwise"]) for r in powers),
        "n_others": len(others),
        "max_ratio": _max([r["ratio"] for r in others]),
        "max_uncompensated_ratio": _max([r["uncompensated_ratio"] for r in others]),
    }
