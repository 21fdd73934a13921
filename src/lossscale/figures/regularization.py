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
    block_rows,
    metric_label,
    metric_scale,
    ordered,
    require,
    seed_means,
)
from lossscale.stats.paired import QUANTITIES
from lossscale.stats.slices import block_focus, blocks, regularization_block

NAME = "regularization"


def _block(config: Mapping[str, Any]) -> Mapping[str, Any]:
    name = regularization_block(config)
    if name is None:
        raise ValueError(f"figure {NAME}: no block crosses several regularizations")
    return blocks(config)[name]


def regularization_frame(final: pd.DataFrame, config: Mapping[str, Any]) -> pd.DataFrame:
    """Per (optimizer, regularization, alpha) of the block, at its focus task, precision
    and compensation: the mean final ``train`` and ``test`` metric over non-divergent
    seeds, ``n_seeds`` and ``n_diverged``."""
    block = _block(config)
    fixed = {k: v for k, v in block_focus(block).items() if k != "regularization"}
    rows = block_rows(final, block, **fixed)
    out = seed_means(rows, ["optimizer", "regularization", "alpha"], list(QUANTITIES.values()))
    out = out.rename(columns={column: quantity for quantity, column in QUANTITIES.items()})
    return out[["optimizer", "regularization", "alpha", *QUANTITIES, "n_seeds", "n_diverged"]]


def plot_regularization(final: pd.DataFrame, config: Mapping[str, Any]) -> plt.Figure:
    """Rows: final test, final train metric; one column per optimizer."""
    block = _block(config)
    data = require(regularization_frame(final, config), NAME, "no final rows of the block")
    focus = block_focus(block)
    task = [config["tasks"].get(focus["task"], {})]
    kinds = ordered(data["regularization"], block["regularizations"])
    labels = {k: REGULARIZATION_LABELS.get(k, k) for k in kinds}
    scale = metric_scale(task)
    panels = [(q, metric_label(task, q), scale) for q in ("test", "train")]
    title = (
        f"regularization (weight decay {block['weight_decay']:g}); "
        f"task {focus['task']}, {focus['precision']}"
    )
    optimizers = ordered(data["optimizer"], block["optimizers"])
    return alpha_grid(data, "regularization", labels, panels, optimizers, title)
