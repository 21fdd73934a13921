"""Paired-by-seed comparison of each alpha's final metric with alpha = 1.

Pure functions on tidy frames. Replicas with the same seed share their initialization,
so the difference ``metric(alpha, seed) - metric(1, seed)`` removes the seed effect.
Divergent replicas (non-finite final metric) are counted, never silently dropped.

Three quantities are compared: the final training metric, the final held-out metric
and the early-stopped held-out metric (the lowest held-out value of the run). Each
alpha gets a percentile bootstrap interval of the mean difference, a two-sided paired
test (t or Wilcoxon signed-rank), an equivalence test (TOST, Schuirmann 1987) for
``|mean difference| < margin``, both p-values adjusted for multiplicity, and a verdict
(``tables.VERDICTS``).

Multiplicity: the family of a comparison is its sweep, the loss scales of one cell and
quantity, and every sweep counts as large as the whole grid's set of loss scales other
than 1 (``family_size``): Bonferroni's ``min(1, m p)``. The same comparison thus gets
the same correction in every block, whatever the block's alpha grid, and the error
rate of every sweep stays below the level.

Whether a run trains is judged on the training metric: a comparison whose reference
and alpha run both end within ``untrained`` (a fraction) of their initial training
metric is ``neither_trains``, whatever its held-out metrics. A seed whose final training
metric is finite but more than ``explode`` times its initial one blew up (the phase
map's criterion): it counts with the diverged ones.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from lossscale.stats.load import final_rows, outcomes
from lossscale.tables import CELL, COMPARISON_COLUMNS, REFERENCE

#: The metrics recorded at every step, by quantity name.
METRICS = {"train": "train_metric", "test": "test_metric"}
#: The compared quantities: the final metrics and the early-stopped held-out metric.
QUANTITIES = METRICS | {"test_best": "test_metric_best"}
#: The paired tests (config ``stats.test``).
TESTS = ("t", "wilcoxon")
REF_ALPHA = 1.0

__all__ = [
    "METRICS",
    "QUANTITIES",
    "TESTS",
    "adjust",
    "bootstrap_ci",
    "compare_all",
    "compare_cell",
    "final_rows",
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


def adjust(p: np.ndarray, family_size: int) -> np.ndarray:
    """Bonferroni's adjustment for a family of ``family_size``: ``min(1, m p)``; NaN
    stays NaN."""
    if family_size < 1:
        raise ValueError(f"family_size: value {family_size!r} is not allowed; allowed: >= 1")
    return np.minimum(np.asarray(p, dtype=float) * family_size, 1.0)


def progress(final: pd.Series, init: pd.Series) -> float:
    """The fraction of the initial training metric a run removed, ``1 - mean(final) /
    mean(initial)`` over the seeds with a finite final value (NaN without any)."""
    ok = np.isfinite(final) & np.isfinite(init)
    if not ok.any():
        return np.nan
    return float(1 - final[ok].mean() / init[ok].mean())


def verdict(row: dict, level: float, untrained: float) -> str:
    """A comparison's verdict, first match: ``reference`` (alpha = 1), ``diverged`` (any
    seed diverged or blew up at this alpha), ``neither_trains`` (the reference and this alpha both
    removed at most ``untrained`` of their initial training metric, or added at most
    that), ``inconclusive`` (fewer than two pairs), ``equivalent`` (adjusted TOST p <
    level), ``better`` / ``worse`` (adjusted p < level, lower / higher metric), else
    ``inconclusive``."""
    if row["alpha"] == REF_ALPHA:
        return REFERENCE
    if row["n_diverged"] > 0 or row["n_exploded"] > 0:
        return "diverged"
    if abs(row["progress"]) <= untrained and abs(row["ref_progress"]) <= untrained:
        return "neither_trains"
    if row["n_pairs"] >= 2:
        if row["tost_p_adj"] < level:
            return "equivalent"
        if row["p_adj"] < level and row["effect"] != 0:
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
    family_size: int,
    untrained: float,
    explode: float,
) -> list[dict]:
    """Rows of the comparison table for one cell's final values of ``column`` (its
    replicas' :func:`~lossscale.stats.load.outcomes`), with the p-values adjusted for a
    family of ``family_size`` and the verdicts; a seed blew up when its final training
    metric is finite and above ``explode`` times its initial one."""
    wide = final.pivot(index="seed", columns="alpha", values=column)
    if REF_ALPHA not in wide.columns:
        raise ValueError("the alpha grid must contain 1, the reference of every comparison")
    trained = final.pivot(index="seed", columns="alpha", values="train_metric")
    init = final.pivot(index="seed", columns="alpha", values="train_metric_init")
    # blocks may train an alpha with fewer seeds than another: a seed that was not
    # trained at an alpha is missing there, not diverged
    present = final.pivot(index="seed", columns="alpha", values="step").notna()
    ref = wide[REF_ALPHA]
    ref_progress = progress(trained[REF_ALPHA], init[REF_ALPHA])
    out = []
    for alpha in sorted(wide.columns):
        values = wide[alpha][present[alpha]]
        ok = np.isfinite(values) & np.isfinite(ref.reindex(values.index))
        diffs = (values - ref.reindex(values.index))[ok].to_numpy()
        rng = np.random.default_rng([seed, len(out)])
        low, high = bootstrap_ci(diffs, confidence, resamples, rng)
        finite = values[np.isfinite(values)]
        is_ref = alpha == REF_ALPHA
        p_value = np.nan if is_ref else paired_p(diffs, test)
        tost = np.nan if is_ref else tost_p(diffs, margin, test)
        row = {
            "alpha": float(alpha),
            "n_seeds": int(values.size),
            "n_pairs": int(ok.sum()),
            "n_diverged": int((~np.isfinite(values)).sum()),
            "n_exploded": int(
                (trained[alpha][values.index] > explode * init[alpha][values.index]).sum()
            ),
            "mean": float(finite.mean()) if finite.size else np.nan,
            "ref_mean": float(ref.reindex(values.index)[ok].mean()) if ok.any() else np.nan,
            "effect": float(diffs.mean()) if diffs.size else np.nan,
            "ci_low": low,
            "ci_high": high,
            "confidence": confidence,
            "test": test,
            "p_value": p_value,
            "family_size": family_size,
            "p_adj": float(adjust(p_value, family_size)),
            "margin": margin,
            "tost_p": tost,
            "tost_p_adj": float(adjust(tost, family_size)),
            "progress": progress(trained[alpha][values.index], init[alpha][values.index]),
            "ref_progress": ref_progress,
        }
        row["verdict"] = verdict(row, level, untrained)
        out.append(row)
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
    untrained: float = 0.05,
    explode: float = 10.0,
) -> pd.DataFrame:
    """The comparison table for every cell and quantity (``QUANTITIES``).

    ``history`` holds every recorded step of the replicas, or their
    :func:`~lossscale.stats.load.outcomes` as ``read_outcomes`` gives them; a cell is a
    ``CELL`` (task, optimizer, precision, batch size, steps, regularization,
    compensation, weight decay), rows are sorted by cell, then quantity, then alpha.
    The family size is the number of distinct alphas other than 1 in ``history``.
    ``test``, ``margin``, ``level`` and ``untrained`` are the config's ``stats`` keys of
    those names, ``explode`` its ``phase.explode``.
    """
    _check_test(test)
    final = history if "test_metric_best" in history.columns else outcomes(history)
    final = final.assign(**{c: final[c].where(~final["diverged"]) for c in QUANTITIES.values()})
    family_size = max(1, len(set(final["alpha"]) - {REF_ALPHA}))
    rows = []
    for key, cell in final.groupby(list(CELL), sort=True):
        for quantity, column in QUANTITIES.items():
            for row in compare_cell(
                cell,
                column,
                confidence,
                resamples,
                seed,
                test=test,
                margin=margin,
                level=level,
                family_size=family_size,
                untrained=untrained,
                explode=explode,
            ):
                rows.append(dict(zip(CELL, key, strict=True)) | {"quantity": quantity} | row)
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
