"""The verdict heatmap: optimizer (rows, config order) x alpha (columns) on the asker's
task at the main settings, each cell coloured by its training-metric verdict from
results/stats/comparisons.csv (with a symbol, so that it reads without colour);
combinations the grid does not train stay blank, the reference column is framed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from lossscale.figures.common import alpha_text, legend, optimizer_label, ordered, require
from lossscale.figures.theme import PALETTE, TEXT_WIDTH
from lossscale.report.slices import MAIN_SETTINGS, main_slice
from lossscale.study.cells import REF_ALPHA, REGIME, grid_orders
from lossscale.tables import REFERENCE, VERDICTS

NAME = "verdict_heatmap"
#: Colour (an index into the colour-blind palette) and symbol of each verdict.
VERDICT_STYLE = {
    REFERENCE: (7, "ref"),
    "equivalent": (9, "="),
    "better": (2, "+"),
    "worse": (1, "\N{MINUS SIGN}"),
    "diverged": (4, "\N{MULTIPLICATION SIGN}"),
    "neither_trains": (5, "\N{EMPTY SET}"),
    "inconclusive": (8, "?"),
}
assert set(VERDICT_STYLE) == {REFERENCE, *VERDICTS}
#: Legend words where a verdict's name is not plain English.
VERDICT_WORDS = {"neither_trains": "untrained in both"}


def verdict_colour(verdict: str) -> tuple[float, float, float, float]:
    """The RGBA colour of a verdict's cells."""
    return mcolors.to_rgba(sns.color_palette(PALETTE)[VERDICT_STYLE[verdict][0]])


def verdict_frame(comparisons: pd.DataFrame, config: Mapping[str, Any]) -> pd.DataFrame:
    """The training-metric verdicts of the asker's task at the main settings (whether and
    how a run trains is judged on the training metric): a frame with optimizers (config
    order) as index, alphas (ascending) as columns, NaN where there is none."""
    where = main_slice(config)
    keep = comparisons["quantity"] == "train"
    for axis in ("task", *MAIN_SETTINGS, *REGIME):
        keep &= comparisons[axis] == where[axis]
    rows = comparisons[keep]
    table = rows.pivot_table(
        index="optimizer", columns="alpha", values="verdict", aggfunc="first", sort=True
    )
    order = ordered(table.index, grid_orders(config)["optimizer"])
    return table.reindex(index=order, columns=sorted(table.columns.astype(float)))


def plot_verdict_heatmap(comparisons: pd.DataFrame, config: Mapping[str, Any]) -> plt.Figure:
    """The heatmap with a legend of every verdict."""
    table = require(verdict_frame(comparisons, config), NAME, "no training-metric verdicts")
    rgba = np.zeros((*table.shape, 4))
    for (i, j), verdict in np.ndenumerate(table.to_numpy(dtype=object)):
        if isinstance(verdict, str):
            rgba[i, j] = verdict_colour(verdict)
    nrows, ncols = table.shape
    fig, ax = plt.subplots(figsize=(TEXT_WIDTH, 0.2 * nrows + 1.3), layout="constrained")
    ax.imshow(rgba, aspect="auto", interpolation="nearest")
    for (i, j), verdict in np.ndenumerate(table.to_numpy(dtype=object)):
        if isinstance(verdict, str):
            text = VERDICT_STYLE[verdict][1]
            ax.text(j, i, text, ha="center", va="center", fontsize=7 if len(text) == 1 else 5.5)
    ax.set_xticks(range(ncols), [alpha_text(a) for a in table.columns])
    ax.set_yticks(range(nrows), [optimizer_label(o) for o in table.index])
    ax.tick_params(length=0)
    ax.set_xticks(np.arange(ncols + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(nrows + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=1.0)
    ax.tick_params(which="minor", length=0)
    if REF_ALPHA in table.columns:
        j = list(table.columns).index(REF_ALPHA)
        ax.add_patch(
            plt.Rectangle((j - 0.5, -0.5), 1, nrows, fill=False, edgecolor="black", linewidth=1.2)
        )
    where = main_slice(config)
    ax.set_xlabel(r"loss scale $\alpha$ (framed: the reference $\alpha = 1$)")
    ax.set_title(f"training-metric verdict against $\\alpha = 1$, task {where['task']}", pad=3)
    sns.despine(ax=ax, left=True, bottom=True)
    handles = [
        plt.Rectangle((0, 0), 1, 1, facecolor=verdict_colour(v), edgecolor="none")
        for v in VERDICT_STYLE
    ]
    labels = {v: f"{VERDICT_STYLE[v][1]}  {VERDICT_WORDS.get(v, v)}" for v in VERDICT_STYLE}
    legend(fig, labels, {}, ncols=len(labels), handles=handles)
    return fig
