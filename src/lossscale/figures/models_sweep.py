"""The convolutional and transformer networks' sweep: the final training and held-out
metric against alpha, one column per task of the models block, one line per optimizer,
the predicted eps knee of each eps-type optimizer marked in its colour.

Points are means over the seeds that did not diverge at the block's first precision,
regularization and compensation (the main ones where it has them); a cross at a panel's
top marks an alpha where every seed diverged, a fraction beside a point the seeds of it that
diverged (the point is the mean of the others). The knees come from results/stats/knee.csv.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from lossscale.figures.common import (
    alpha_axis,
    block_knees,
    draw_lines,
    legend,
    metric_axis,
    metric_label,
    optimizer_label,
    ordered,
    panel_grid,
    require,
    seed_means,
    styles,
)
from lossscale.report.slices import MAIN_SETTINGS, block_focus, models_block
from lossscale.stats.load import block_rows
from lossscale.stats.paired import METRICS
from lossscale.study.cells import blocks

NAME = "models_sweep"
#: The rows of panels: the training metric (does it train) and the held-out metric.
QUANTITIES = ("train", "test")


def _block(config: Mapping[str, Any]) -> tuple[Mapping[str, Any], dict[str, Any]]:
    """The models block and the settings drawn (precision, regularization, compensation)."""
    block = blocks(config)[models_block(config)]
    focus = block_focus(block)
    return block, {axis: focus[axis] for axis in MAIN_SETTINGS}


def plot_models_sweep(
    final: pd.DataFrame, knee: pd.DataFrame, config: Mapping[str, Any]
) -> plt.Figure:
    """Rows: training and held-out metric; columns: the block's tasks; lines: optimizers."""
    block, settings = _block(config)
    rows = require(block_rows(final, block, **settings), NAME, "no final rows of the block")
    columns = [METRICS[q] for q in QUANTITIES]
    data = seed_means(rows, ["task", "optimizer", "alpha"], columns)
    tasks = ordered(data["task"], block["tasks"])
    optimizers = ordered(data["optimizer"], block["optimizers"])
    style = styles(optimizers)
    knees = block_knees(knee, block, settings)
    fig, axes = panel_grid(len(QUANTITIES), len(tasks), 1.6, sharex=True)
    for j, task in enumerate(tasks):
        settings_of_task = [config["tasks"].get(task, {})]
        for i, (quantity, column) in enumerate(zip(QUANTITIES, columns, strict=True)):
            ax = axes[i, j]
            frame = data[data["task"] == task].rename(columns={column: "value"})
            draw_lines(ax, frame, "optimizer", "value", optimizers, style)
            partly = frame[(frame["n_diverged"] > 0) & frame["value"].notna()]
            for row in partly.itertuples():
                ax.annotate(
                    f"{row.n_diverged}/{row.n_seeds} div.",
                    (row.alpha, row.value),
                    xytext=(3, 3),
                    textcoords="offset points",
                    fontsize=6,
                    color=style[row.optimizer]["color"],
                )
            for row in knees[knees["task"] == task].itertuples():
                colour = style[row.optimizer]["color"]
                ax.axvline(row.predicted_knee, color=colour, linewidth=0.9, linestyle="--")
            alpha_axis(ax, data["alpha"], label=False, most=4)
            metric_axis(ax, settings_of_task)
            ax.set_ylabel(metric_label(settings_of_task, quantity))
            if i == 0:
                ax.set_title(task, pad=6)
    fig.supxlabel(r"loss scale $\alpha$ (dotted: $\alpha = 1$; dashed: predicted knee)")
    labels = {o: optimizer_label(o) for o in optimizers}
    legend(fig, labels, style, title="optimizer")
    sns.despine(fig=fig)
    return fig
