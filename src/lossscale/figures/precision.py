"""Precision: from the block that crosses several precisions, the fraction of gradient
entries that are exactly zero at initialization (step 0: float16 underflow) and the
final test metric against alpha, one column per optimizer, one line per precision."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from lossscale.figures.common import (
    PRECISION_LABELS,
    alpha_grid,
    block_setting,
    find_block,
    metric_label,
    require,
    seed_means,
)
from lossscale.report.slices import block_focus, precision_block
from lossscale.stats.load import block_rows, final_rows

NAME = "precision"
KEY = ["optimizer", "precision", "alpha"]


def _block(config: Mapping[str, Any]) -> Mapping[str, Any]:
    return find_block(config, precision_block, NAME, "crosses several precisions")


def precision_frame(history: pd.DataFrame, config: Mapping[str, Any]) -> pd.DataFrame:
    """Per (optimizer, precision, alpha) of the block, at its focus task, regularization
    and compensation: ``zero_init``, the mean over seeds of ``grad_zero_frac`` at step 0
    (the gradient at initialization), and ``test``, the mean final test metric over the
    non-divergent seeds, with ``n_seeds`` and ``n_diverged`` (of the final step)."""
    block = _block(config)
    fixed = {k: v for k, v in block_focus(block).items() if k != "precision"}
    rows = block_rows(history, block, **fixed)
    first = rows[rows["step"] == rows["step"].min()].assign(diverged=False)
    zero = seed_means(first, KEY, ["grad_zero_frac"])[[*KEY, "grad_zero_frac"]]
    final = seed_means(final_rows(rows), KEY, ["test_metric"])
    out = final.merge(zero, on=KEY, how="outer")
    out = out.rename(columns={"grad_zero_frac": "zero_init", "test_metric": "test"})
    return out[[*KEY, "zero_init", "test", "n_seeds", "n_diverged"]]


def plot_precision(history: pd.DataFrame, config: Mapping[str, Any]) -> plt.Figure:
    """Top row: zero gradient entries at initialization; bottom row: final test metric."""
    block = _block(config)
    data = require(precision_frame(history, config), NAME, "no recorded steps of the block")
    s = block_setting(data, block, config, "precision", PRECISION_LABELS)
    panels = [
        ("zero_init", "zero gradient entries\nat initialization (fraction)", "linear"),
        ("test", metric_label(s["task"], "test"), s["scale"]),
    ]
    title = f"precision; task {s['focus']['task']}"
    return alpha_grid(data, "precision", s["labels"], panels, s["optimizers"], title)
