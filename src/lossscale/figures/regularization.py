"""The regularization trade-off: from the block that crosses several regularizations,
the final test and train metric against alpha, one column per optimizer, one line per
regularization. Coupled weight decay (inside the gradient the optimizer normalizes)
shifts with alpha; decoupled decay does not."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from lossscale.figures.common import (
    REGULARIZATION_LABELS,
    alpha_grid,
    block_setting,
    find_block,
    metric_label,
    require,
    seed_means,
)
from lossscale.report.slices import block_focus, regularization_block
from lossscale.stats.load import block_rows
from lossscale.stats.paired import METRICS

NAME = "regularization"


def _block(config: Mapping[str, Any]) -> Mapping[str, Any]:
    return find_block(config, regularization_block, NAME, "crosses several regularizations")


def regularization_frame(final: pd.DataFrame, config: Mapping[str, Any]) -> pd.DataFrame:
    """Per (optimizer, regularization, alpha) of the block, at its focus task, precision
    and compensation: the mean final ``train`` and ``test`` metric over non-divergent
    seeds, ``n_seeds`` and ``n_diverged``."""
    block = _block(config)
    fixed = {k: v for k, v in block_focus(block).items() if k != "regularization"}
    rows = block_rows(final, block, **fixed)
    out = seed_means(rows, ["optimizer", "regularization", "alpha"], list(METRICS.values()))
    out = out.rename(columns={column: quantity for quantity, column in METRICS.items()})
    return out[["optimizer", "regularization", "alpha", *METRICS, "n_seeds", "n_diverged"]]


def plot_regularization(final: pd.DataFrame, config: Mapping[str, Any]) -> plt.Figure:
    """Rows: final test, final train metric; one column per optimizer."""
    block = _block(config)
    data = require(regularization_frame(final, config), NAME, "no final rows of the block")
    s = block_setting(data, block, config, "regularization", REGULARIZATION_LABELS)
    panels = [(q, metric_label(s["task"], q), s["scale"]) for q in ("test", "train")]
    focus = s["focus"]
    title = (
        f"regularization (weight decay {block['weight_decay']:g}); "
        f"task {focus['task']}, {focus['precision']}"
    )
    return alpha_grid(data, "regularization", s["labels"], panels, s["optimizers"], title)
