"""Alpha sweeps per optimizer: the final training metric against alpha, one panel per
optimizer of the main block, one line per task, the predicted eps knee marked.

The training metric shows whether a run trains, which is what the knee is about (and
where knee.csv measures it); the held-out metric's verdicts are the heatmap's.

Only the main settings (``lossscale.report.slices.main_slice``: float32, no
regularization, no compensation) are drawn; each point is the mean over the seeds that
did not diverge, a cross at a panel's top marks an alpha where every seed diverged. The
knee alpha* = eps / (gradient RMS at initialization) comes from results/stats/knee.csv.
"""

from __future__ import annotations

import math
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
from lossscale.report.slices import MAIN_SETTINGS, main_block, main_slice
from lossscale.stats.load import block_rows
from lossscale.stats.paired import METRICS
from lossscale.study.cells import blocks

NAME = "alpha_sweep"
#: Panels per row.
COLUMNS = 5
#: The metric drawn: the training metric (see the module docstring).
QUANTITY = "train"


def _main(config: Mapping[str, Any]) -> tuple[Mapping[str, Any], dict[str, str]]:
    """The main block and its main settings (precision, regularization, compensation)."""
    settings = main_slice(config)
    return blocks(config)[main_block(config)], {a: settings[a] for a in MAIN_SETTINGS}


def sweep_frame(
    final: pd.DataFrame, config: Mapping[str, Any], quantity: str = "test"
) -> pd.DataFrame:
    """Per (optimizer, task, alpha) of the main block at the main settings: the mean final
    ``quantity`` metric over non-divergent seeds (``value``), ``n_seeds``, ``n_diverged``."""
    block, settings = _main(config)
    rows = block_rows(final, block, **settings)
    column = METRICS[quantity]
    out = seed_means(rows, ["optimizer", "task", "alpha"], [column])
    return out.rename(columns={column: "value"})[
        ["optimizer", "task", "alpha", "value", "n_seeds", "n_diverged"]
    ]


def knee_frame(knee: pd.DataFrame | None, config: Mapping[str, Any]) -> pd.DataFrame:
    """The predicted knee per (optimizer, task) of the main block at the main settings,
    where knee.csv has a finite one."""
    columns = ["optimizer", "task", "predicted_knee"]
    if knee is None or knee.empty:
        return pd.DataFrame(columns=columns)
    rows = block_knees(knee, *_main(config))
    return rows[columns].drop_duplicates(["optimizer", "task"]).reset_index(drop=True)


def plot_alpha_sweep(
    final: pd.DataFrame, knee: pd.DataFrame | None, config: Mapping[str, Any]
) -> plt.Figure:
    """One panel per optimizer (config order), one line per task, knees as dashed lines."""
    block, _ = _main(config)
    data = require(sweep_frame(final, config, QUANTITY), NAME, "no final rows at the main settings")
    knees = knee_frame(knee, config)
    optimizers = ordered(data["optimizer"], block["optimizers"])
    tasks = ordered(data["task"], block["tasks"])
    style = styles(tasks)
    task_settings = [config["tasks"].get(t, {}) for t in tasks]
    ncols = min(COLUMNS, len(optimizers))
    nrows = math.ceil(len(optimizers) / ncols)
    fig, axes = panel_grid(nrows, ncols, 1.3, sharex=True, sharey=True)
    for ax, optimizer in zip(axes.flat, optimizers, strict=False):
        draw_lines(ax, data[data["optimizer"] == optimizer], "task", "value", tasks, style)
        for row in knees[knees["optimizer"] == optimizer].itertuples():
            if row.task in style:
                colour = style[row.task]["color"]
                ax.axvline(row.predicted_knee, color=colour, linewidth=0.9, linestyle="--")
        ax.set_title(optimizer_label(optimizer), pad=6)
        alpha_axis(ax, data["alpha"], label=False, most=3)
        ax.tick_params(labelbottom=True)
        metric_axis(ax, task_settings)
    for ax in axes.flat[len(optimizers) :]:
        ax.set_axis_off()
    fig.supxlabel(r"loss scale $\alpha$ (dotted: $\alpha = 1$; dashed: predicted knee)")
    fig.supylabel(metric_label(task_settings, QUANTITY))
    legend(fig, dict(zip(tasks, tasks, strict=True)), style, title="task")
    sns.despine(fig=fig)
    return fig
