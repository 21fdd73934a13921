"""src/lossscale/figures/final_metric.py: a figure (recipe "add a figure").

The final training metric against alpha, one line per optimizer of the main block (the
mean over seeds on its focus task, every compensation pooled)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from lossscale.report.slices import block_focus, main_block
from lossscale.study import cells


def plot_final_metric(final: pd.DataFrame, config: Mapping[str, Any]) -> plt.Figure:
    """One panel: mean final training metric per (optimizer, alpha)."""
    task = block_focus(cells.blocks(config)[main_block(config)])["task"]
    rows = final[final["task"] == task]
    fig, ax = plt.subplots(figsize=(4.5, 3))
    for optimizer, part in rows.groupby("optimizer", sort=True):
        means = part.groupby("alpha")["train_metric"].mean()
        ax.plot(means.index, means.to_numpy(), marker="o", label=optimizer)
    ax.set(xscale="log", yscale="log", xlabel="loss scale alpha", ylabel="final train metric")
    ax.legend(frameon=False)
    return fig
