"""Loss magnitude as a loss scale: tasks that differ only in how small their loss is.

A diabetes task with ``target_scale`` s and its output scaled too fits ``s * f(x)`` to
``s * y``: its loss is ``s^2`` times the unit task's, for every parameter value. Training
it with the loss times alpha is therefore training the unit task with the loss times
``alpha s^2``, the same run up to round-off. The table pairs every such run of two tasks
of the grid (same model, data and output scaling; different ``target_scale``) at loss
scales with ``alpha_a s_a^2 = alpha_b s_b^2``, for the same optimizer settings, and sets
the largest difference of their final training metric (normalized, so comparable across
the tasks) against the seed-to-seed spread.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from lossscale.study.selections import magnitude_pairs
from lossscale.tables import CELL, MAGNITUDE_COLUMNS

#: Relative tolerance of ``alpha_a s_a^2 = alpha_b s_b^2`` (the products are decimal).
MATCH = 1e-9
#: Only the loss-scale arm: with a compensation alpha is not (only) a loss factor.
COMPENSATION = "none"
#: The final-row columns the table reads.
READ_COLUMNS = ("alpha", "seed", "step", "train_metric", "diverged")


def _same_lr(tasks: Mapping[str, Mapping], a: str, b: str, optimizer: str) -> bool:
    lr = [tasks[t].get("lr", {}).get(optimizer) for t in (a, b)]
    return lr[0] == lr[1]


def _by_seed(final: pd.DataFrame, alpha: float) -> pd.Series:
    rows = final[final["alpha"] == alpha]
    return rows["train_metric"].where(~rows["diverged"]).set_axis(rows["seed"])


def _pair_rows(small: pd.DataFrame, big: pd.DataFrame, ratio: float) -> list[dict]:
    """One row per alpha of the smaller-loss cell with a matching alpha of the other."""
    rows = []
    big_alphas = np.array(sorted(set(big["alpha"])))
    for alpha in sorted(set(small["alpha"])):
        match = big_alphas[np.isclose(big_alphas, alpha * ratio, rtol=MATCH, atol=0)]
        if match.size == 0:
            continue
        ours, theirs = _by_seed(small, alpha), _by_seed(big, match[0])
        diffs = (ours - theirs).abs().dropna()
        sd = float(theirs.std(ddof=1))
        max_diff = float(diffs.max()) if diffs.size else np.nan
        rows.append(
            {
                "alpha": float(alpha),
                "other_alpha": float(match[0]),
                "n_pairs": int(diffs.size),
                "n_diverged": int(ours.isna().sum() + theirs.isna().sum()),
                "train_metric": float(ours.mean()),
                "other_train_metric": float(theirs.mean()),
                "max_abs_diff": max_diff,
                "seed_sd": sd,
                "ratio": max_diff / sd if sd > 0 else np.nan,
            }
        )
    return rows


def magnitude_table(final: pd.DataFrame, tasks: Mapping[str, Mapping]) -> pd.DataFrame:
    """The paired runs of every :func:`magnitude_pairs` pair in ``final`` (every
    replica's final row), for the same optimizer and settings (compensation ``none``)
    and the same learning rate on both tasks. Rows sorted by pair, cell, then alpha."""
    setting = [c for c in CELL if c != "task"]
    final = final[final["compensation"] == COMPENSATION]
    by_task = dict(list(final.groupby("task", sort=False)))
    rows = []
    for small, big, ratio in magnitude_pairs(tasks):
        if small not in by_task or big not in by_task:
            continue
        others = dict(list(by_task[big].groupby(setting, sort=True)))
        for key, cell in by_task[small].groupby(setting, sort=True):
            optimizer = dict(zip(setting, key, strict=True))["optimizer"]
            if key not in others or not _same_lr(tasks, small, big, optimizer):
                continue
            head = {"task": small, "other_task": big, "loss_ratio": ratio}
            head |= dict(zip(setting, key, strict=True))
            rows.extend(head | row for row in _pair_rows(cell, others[key], ratio))
    return pd.DataFrame(rows, columns=list(MAGNITUDE_COLUMNS))
