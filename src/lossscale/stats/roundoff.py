"""Round-off against effect: cells where multiplying the loss by alpha is exactly undone.

In an exact cell (``lossscale.study.selections.EXACT``: a scale-invariant optimizer, or a compensation that undoes
the scale) a run at alpha differs from the run at alpha = 1 of the same seed only by
round-off, and not at all where alpha is a power of two. The table sets the largest
such difference of the final held-out metric against the seed-to-seed spread, and, for
a compensated cell, the uncompensated cell's effect at the same alpha against it.

A cell whose reference run does not train (removes at most ``untrained`` of its initial
training metric) bounds nothing: its seeds all stay where they started. The table marks
which cells train, so that the bound is read on those.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from lossscale.exact import is_power_of_two
from lossscale.stats.load import final_rows
from lossscale.stats.paired import progress
from lossscale.study.selections import is_exact
from lossscale.tables import CELL, ROUNDOFF_COLUMNS

UNCOMPENSATED = "none"
REF_ALPHA = 1.0
METRICS = ("train_metric", "test_metric")
#: The training-table columns the round-off table reads.
READ_COLUMNS = ("alpha", "seed", "step", *METRICS, "diverged")


def _by_seed(final: pd.DataFrame, alpha: float) -> pd.Series:
    """The final held-out metric at ``alpha`` by seed (NaN where diverged)."""
    rows = final[final["alpha"] == alpha]
    return rows["test_metric"].where(~rows["diverged"]).set_axis(rows["seed"])


def _abs_diffs(final: pd.DataFrame, alpha: float) -> pd.Series:
    """|final test metric at alpha - at alpha = 1| of every seed with both finite."""
    return (_by_seed(final, alpha) - _by_seed(final, REF_ALPHA)).abs().dropna()


def bitwise(cell: pd.DataFrame, alpha: float) -> bool:
    """Whether every recorded metric of every seed at ``alpha`` equals the alpha = 1 run
    of the same seed at the same step exactly (NaN equal to NaN; seeds trained at
    alpha = 1 only are left out)."""

    def values(a: float) -> pd.DataFrame:
        return cell[cell["alpha"] == a].set_index(["seed", "step"])[list(METRICS)].sort_index()

    run, ref = values(alpha), values(REF_ALPHA)
    seeds = run.index.get_level_values("seed").unique()
    ref = ref[ref.index.get_level_values("seed").isin(seeds)]  # blocks may train fewer seeds
    return run.index.equals(ref.index) and np.array_equal(
        run.to_numpy(), ref.to_numpy(), equal_nan=True
    )


def _ratio(value: float, sd: float) -> float:
    return value / sd if sd > 0 else np.nan


def _ref_progress(cell: pd.DataFrame, final: pd.DataFrame) -> float:
    """The alpha = 1 run's :func:`~lossscale.stats.paired.progress`."""
    init = cell[(cell["step"] == 0) & (cell["alpha"] == REF_ALPHA)].set_index("seed")
    ref = final[final["alpha"] == REF_ALPHA].set_index("seed")
    trained = ref["train_metric"].where(~ref["diverged"])
    return progress(trained, init["train_metric"].reindex(trained.index))


def cell_roundoff(
    cell: pd.DataFrame, uncompensated: pd.DataFrame | None, untrained: float
) -> list[dict]:
    """The rows of one exact cell's history (every recorded step), one per alpha other
    than 1; ``uncompensated`` is the history of the same job's cell without
    compensation (None where there is none to compare)."""
    final = final_rows(cell)
    seed_sd = float(_by_seed(final, REF_ALPHA).std(ddof=1))
    ref_progress = _ref_progress(cell, final)
    other = None if uncompensated is None else final_rows(uncompensated)
    rows = []
    for alpha in sorted(set(cell["alpha"]) - {REF_ALPHA}):
        diffs = _abs_diffs(final, alpha)
        max_diff = float(diffs.max()) if diffs.size else np.nan
        effect = np.nan
        if other is not None and {alpha, REF_ALPHA} <= set(other["alpha"]):
            effects = _abs_diffs(other, alpha)
            effect = float(effects.mean()) if effects.size else np.nan
        rows.append(
            {
                "alpha": float(alpha),
                "power_of_two": is_power_of_two(alpha),
                "n_seeds": int(final["alpha"].eq(alpha).sum()),
                "ref_progress": ref_progress,
                "trains": bool(ref_progress > untrained),
                "bitwise": bitwise(cell, alpha),
                "max_abs_diff": max_diff,
                "seed_sd": seed_sd,
                "ratio": _ratio(max_diff, seed_sd),
                "uncompensated_abs_effect": effect,
                "uncompensated_ratio": _ratio(effect, seed_sd),
            }
        )
    return rows


def roundoff_table(histories: Iterable[pd.DataFrame], untrained: float) -> pd.DataFrame:
    """The round-off table of every exact cell with alpha = 1 in ``histories``
    (training tables with every recorded step, e.g. one per job); a cell trains where its
    reference removed more than ``untrained`` (``stats.untrained``) of its initial
    training metric. Rows sorted by cell, then alpha."""
    rows = []
    for history in histories:
        cells = dict(list(history.groupby(list(CELL), sort=False)))
        for key, cell in cells.items():
            setting = dict(zip(CELL, key, strict=True))
            if not is_exact(setting["optimizer"], setting["compensation"]):
                continue
            if REF_ALPHA not in set(cell["alpha"]):
                continue
            plain = None
            if setting["compensation"] != UNCOMPENSATED:
                plain = cells.get(tuple({**setting, "compensation": UNCOMPENSATED}.values()))
            rows.extend(setting | row for row in cell_roundoff(cell, plain, untrained))
    table = pd.DataFrame(rows, columns=list(ROUNDOFF_COLUMNS))
    return table.sort_values([*CELL, "alpha"], ignore_index=True)
