"""Paired-by-seed comparison of each alpha's final metric with alpha = 1.

Pure functions on tidy frames. Replicas with the same seed share their initialization,
so the difference ``metric(alpha, seed) - metric(1, seed)`` removes the seed effect.
Divergent replicas (non-finite final metric) are counted, never silently dropped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from lossscale.stats.load import final_rows
from lossscale.tables import CELL, COMPARISON_COLUMNS

QUANTITIES = {"train": "train_metric", "test": "test_metric"}

__all__ = ["QUANTITIES", "bootstrap_ci", "compare_all", "compare_cell", "final_rows"]


def bootstrap_ci(
    diffs: np.ndarray, confidence: float, resamples: int, rng: np.random.Generator
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``diffs`` (NaN when empty)."""
    if diffs.size == 0:
        return (np.nan, np.nan)
    if np.all(diffs == diffs[0]):
        return (float(diffs[0]), float(diffs[0]))
    res = stats.bootstrap(
        (diffs,),
        np.mean,
        confidence_level=confidence,
        n_resamples=resamples,
        method="percentile",
        random_state=rng,
    )
    return (float(res.confidence_interval.low), float(res.confidence_interval.high))


def compare_cell(
    final: pd.DataFrame, column: str, confidence: float, resamples: int, seed: int
) -> list[dict]:
    """Rows of the comparison table for one cell's final values of ``column``."""
    wide = final.pivot(index="seed", columns="alpha", values=column)
    if 1.0 not in wide.columns:
        raise ValueError("the alpha grid must contain 1, the reference of every comparison")
    ref = wide[1.0]
    out = []
    for alpha in sorted(wide.columns):
        values = wide[alpha]
        ok = np.isfinite(values) & np.isfinite(ref)
        diffs = (values - ref)[ok].to_numpy()
        rng = np.random.default_rng([seed, len(out)])
        low, high = bootstrap_ci(diffs, confidence, resamples, rng)
        finite = values[np.isfinite(values)]
        out.append(
            {
                "alpha": float(alpha),
                "n_seeds": int(values.size),
                "n_pairs": int(ok.sum()),
                "n_diverged": int((~np.isfinite(values)).sum()),
                "mean": float(finite.mean()) if finite.size else np.nan,
                "ref_mean": float(ref[ok].mean()) if ok.any() else np.nan,
                "effect": float(diffs.mean()) if diffs.size else np.nan,
                "ci_low": low,
                "ci_high": high,
                "confidence": confidence,
            }
        )
    return out


def compare_all(
    history: pd.DataFrame, confidence: float, resamples: int, seed: int
) -> pd.DataFrame:
    """The comparison table for every cell and quantity (train and test metric).

    ``history`` holds training rows (every recorded step, or only the final ones as
    ``read_final`` gives them); a cell is a ``CELL`` (task, optimizer, precision,
    regularization, compensation, weight decay), rows are sorted by cell, then quantity
    (train, test), then alpha.
    """
    final = final_rows(history)
    final = final.assign(**{c: final[c].where(~final["diverged"]) for c in QUANTITIES.values()})
    rows = []
    for key, cell in final.groupby(list(CELL), sort=True):
        for quantity, column in QUANTITIES.items():
            for row in compare_cell(cell, column, confidence, resamples, seed):
                rows.append(dict(zip(CELL, key, strict=True)) | {"quantity": quantity} | row)
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
