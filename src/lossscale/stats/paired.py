"""Paired-by-seed comparison of each alpha's final metric with alpha = 1.

Pure functions on tidy frames. Replicas with the same seed share their initialization,
so the difference ``metric(alpha, seed) - metric(1, seed)`` removes the seed effect.
Divergent replicas (non-finite final metric) are counted, never silently dropped.

Each alpha gets a percentile bootstrap interval of the mean difference, a two-sided
paired test (t or Wilcoxon signed-rank), an equivalence test (TOST, Schuirmann 1987)
for ``|mean difference| < margin``, Holm's correction of both over the alphas of a
(cell, quantity), and a verdict (``tables.VERDICTS``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from lossscale.stats.load import final_rows
from lossscale.tables import CELL, COMPARISON_COLUMNS, REFERENCE

QUANTITIES = {"train": "train_metric", "test": "test_metric"}
#: The paired tests (config ``stats.test``).
TESTS = ("t", "wilcoxon")
REF_ALPHA = 1.0

__all__ = [
    "QUANTITIES",
    "TESTS",
    "bootstrap_ci",
    "compare_all",
    "compare_cell",
    "final_rows",
    "holm",
    "paired_p",
    "tost_p",
    "verdict",
]


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


def _check_test(test: str) -> None:
    if test not in TESTS:
        raise ValueError(f"stats.test: value {test!r} is not allowed; allowed: one of {TESTS}")


def _one_sample_p(diffs: np.ndarray, shift: float, alternative: str, test: str) -> float:
    """p of H0 "the differences are centred on ``shift``" against ``alternative``
    (``two-sided``, ``less``, ``greater``); the differences must not all be equal."""
    if test == "wilcoxon":
        return float(stats.wilcoxon(diffs - shift, alternative=alternative).pvalue)
    # the t statistic from the unshifted differences' SD: no cancellation when a tiny
    # spread is shifted by a large margin
    t = (diffs.mean() - shift) / (diffs.std(ddof=1) / np.sqrt(diffs.size))
    df = diffs.size - 1
    if alternative == "less":
        return float(stats.t.cdf(t, df))
    if alternative == "greater":
        return float(stats.t.sf(t, df))
    return float(2 * stats.t.sf(abs(t), df))


def paired_p(diffs: np.ndarray, test: str) -> float:
    """Two-sided p of "mean difference = 0" (NaN below two differences).

    Equal differences have no spread to test against: they are exact, p is 1 when they
    are zero and 0 otherwise (the same for both tests).
    """
    _check_test(test)
    if diffs.size < 2:
        return np.nan
    if np.all(diffs == diffs[0]):
        return 1.0 if diffs[0] == 0 else 0.0
    return _one_sample_p(diffs, 0.0, "two-sided", test)


def tost_p(diffs: np.ndarray, margin: float, test: str) -> float:
    """Schuirmann's TOST p for ``-margin < mean difference < margin``: the larger p of
    the one-sided tests against ``-margin`` (greater) and ``+margin`` (less), each of
    kind ``test`` (NaN below two differences; equal differences decide exactly: 0 inside
    the margin, 1 outside)."""
    _check_test(test)
    if diffs.size < 2:
        return np.nan
    if np.all(diffs == diffs[0]):
        return 0.0 if abs(diffs[0]) < margin else 1.0
    return max(
        _one_sample_p(diffs, -margin, "greater", test),
        _one_sample_p(diffs, margin, "less", test),
    )


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment over the finite entries of ``p``; NaN stays NaN.

    Of m p-values, the j-th smallest (j from 0) becomes the running maximum of
    ``(m - j) * p_(j)``, capped at 1 (statsmodels' ``multipletests(method="holm")``, which
    tests/test_stats.py checks it against, without its garbage collection per call).
    """
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    steps = np.maximum.accumulate((len(order) - np.arange(len(order))) * p[order])
    out[order] = np.minimum(steps, 1.0)
    return out


def verdict(row: dict, level: float) -> str:
    """A comparison's verdict, first match: ``reference`` (alpha = 1), ``diverged`` (any
    seed diverged at this alpha), ``inconclusive`` (fewer than two pairs),
    ``equivalent`` (Holm-adjusted TOST p < level), ``better`` / ``worse`` (Holm-adjusted
    p < level, lower / higher metric), else ``inconclusive``."""
    if row["alpha"] == REF_ALPHA:
        return REFERENCE
    if row["n_diverged"] > 0:
        return "diverged"
    if row["n_pairs"] >= 2:
        if row["tost_p_holm"] < level:
            return "equivalent"
        if row["p_holm"] < level and row["effect"] != 0:
            return "better" if row["effect"] < 0 else "worse"
    return "inconclusive"


def compare_cell(
    final: pd.DataFrame,
    column: str,
    confidence: float,
    resamples: int,
    seed: int,
    *,
    test: str,
    margin: float,
    level: float,
) -> list[dict]:
    """Rows of the comparison table for one cell's final values of ``column``, with
    Holm's adjustment over the cell's alphas other than 1 and the verdicts."""
    wide = final.pivot(index="seed", columns="alpha", values=column)
    if REF_ALPHA not in wide.columns:
        raise ValueError("the alpha grid must contain 1, the reference of every comparison")
    ref = wide[REF_ALPHA]
    out = []
    for alpha in sorted(wide.columns):
        values = wide[alpha]
        ok = np.isfinite(values) & np.isfinite(ref)
        diffs = (values - ref)[ok].to_numpy()
        rng = np.random.default_rng([seed, len(out)])
        low, high = bootstrap_ci(diffs, confidence, resamples, rng)
        finite = values[np.isfinite(values)]
        is_ref = alpha == REF_ALPHA
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
                "test": test,
                "p_value": np.nan if is_ref else paired_p(diffs, test),
                "margin": margin,
                "tost_p": np.nan if is_ref else tost_p(diffs, margin, test),
            }
        )
    for name in ("p_value", "tost_p"):
        adjusted = holm(np.array([row[name] for row in out]))
        for row, p in zip(out, adjusted, strict=True):
            row[f"{name.removesuffix('_value')}_holm"] = float(p)
    for row in out:
        row["verdict"] = verdict(row, level)
    return out


def compare_all(
    history: pd.DataFrame,
    confidence: float,
    resamples: int,
    seed: int,
    *,
    test: str = "t",
    margin: float = 0.02,
    level: float = 0.05,
) -> pd.DataFrame:
    """The comparison table for every cell and quantity (train and test metric).

    ``history`` holds training rows (every recorded step, or only the final ones as
    ``read_final`` gives them); a cell is a ``CELL`` (task, optimizer, precision,
    regularization, compensation, weight decay), rows are sorted by cell, then quantity
    (train, test), then alpha. ``test``, ``margin`` and ``level`` are the config's
    ``stats`` keys of those names (defaults: the schema's).
    """
    _check_test(test)
    final = final_rows(history)
    final = final.assign(**{c: final[c].where(~final["diverged"]) for c in QUANTITIES.values()})
    rows = []
    for key, cell in final.groupby(list(CELL), sort=True):
        for quantity, column in QUANTITIES.items():
            for row in compare_cell(
                cell, column, confidence, resamples, seed, test=test, margin=margin, level=level
            ):
                rows.append(dict(zip(CELL, key, strict=True)) | {"quantity": quantity} | row)
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
