"""The asker's scenario as training curves: from the block whose compensations include
``lr_instead``, the run at alpha = 1, the loss multiplied by alpha, and the learning
rate multiplied by alpha instead (loss unscaled); train and test metric against the
step, the mean over the non-divergent seeds with a min-max band."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from lossscale.figures.common import (
    alpha_text,
    draw_lines,
    find_block,
    legend,
    metric_axis,
    metric_label,
    optimizer_label,
    panel_grid,
    require,
    seed_means,
    styles,
)
from lossscale.report.slices import asker_block, block_focus
from lossscale.stats.load import block_rows
from lossscale.stats.paired import METRICS
from lossscale.study.cells import REF_ALPHA

NAME = "asker_curves"


def _block(config: Mapping[str, Any]) -> Mapping[str, Any]:
    return find_block(config, asker_block, NAME, "has the compensation lr_instead")


def curves_frame(history: pd.DataFrame, config: Mapping[str, Any]) -> pd.DataFrame:
    """Per run, step and quantity (train/test): the metric's mean, min and max over the
    non-divergent seeds, ``n_seeds`` and ``n_diverged``. The runs (in order): alpha = 1
    without compensation, then per other alpha of the block the loss x alpha
    (compensation none) and the learning rate x alpha (compensation lr_instead)."""
    block = _block(config)
    focus = block_focus(block)
    optimizer = block["optimizers"][0]
    fixed = {k: v for k, v in focus.items() if k != "compensation"}
    rows = block_rows(history, block, optimizer=optimizer, **fixed)
    runs = [(REF_ALPHA, "none", r"$\alpha = 1$")]
    for alpha in sorted({float(a) for a in block["alphas"]} - {REF_ALPHA}):
        runs.append((alpha, "none", f"loss $\\times$ {alpha_text(alpha)}"))
        runs.append((alpha, "lr_instead", f"learning rate $\\times$ {alpha_text(alpha)}"))
    frames = []
    for alpha, compensation, label in runs:
        run = rows[(rows["alpha"] == alpha) & (rows["compensation"] == compensation)]
        stats = seed_means(run, ["step"], list(METRICS.values()))
        for quantity, column in METRICS.items():
            frames.append(
                stats.rename(
                    columns={column: "mean", f"{column}_min": "low", f"{column}_max": "high"}
                ).assign(run=label, quantity=quantity)[
                    ["run", "quantity", "step", "mean", "low", "high", "n_seeds", "n_diverged"]
                ]
            )
    return pd.concat(frames, ignore_index=True)


def plot_asker_curves(history: pd.DataFrame, config: Mapping[str, Any]) -> plt.Figure:
    """Two panels (train, test metric against step), one line and band per run."""
    block = _block(config)
    focus = block_focus(block)
    data = require(curves_frame(history, config), NAME, "no recorded steps of the block")
    runs = list(dict.fromkeys(data["run"]))
    style = {k: {**s, "marker": None} for k, s in styles(runs).items()}
    task = config["tasks"].get(focus["task"], {})
    fig, axes = panel_grid(1, 2, 2.0, sharey=True)
    for ax, quantity in zip(axes.flat, METRICS, strict=True):
        part = data[data["quantity"] == quantity]
        draw_lines(ax, part, "run", "mean", runs, style, x="step")
        for run in runs:
            band = part[part["run"] == run]
            ax.fill_between(
                band["step"], band["low"], band["high"], color=style[run]["color"],
                alpha=0.25, linewidth=0,
            )  # fmt: skip
        ax.set(xlabel="training step", ylabel=metric_label([task], quantity, when=""))
        metric_axis(ax, [task])
        ax.tick_params(labelleft=True)
    seeds = int(data["n_seeds"].max())
    lost = data.groupby("run")["n_diverged"].max()
    labels = {r: r + (f" ({lost[r]}/{seeds} diverged)" if lost[r] else "") for r in runs}
    title = (
        f"{optimizer_label(block['optimizers'][0])} on {focus['task']} ({focus['precision']}); "
        f"mean over {seeds} seeds, band: min to max"
    )
    legend(fig, labels, style, title=title)
    sns.despine(fig=fig)
    return fig
