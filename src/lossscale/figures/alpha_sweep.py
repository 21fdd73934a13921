"""Final metric against alpha, one line per optimizer (mean over seeds, with each seed)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from lossscale.stats.paired import QUANTITIES, final_rows
from lossscale.tables import OPTIMIZER_LABELS


def sweep_frame(history: pd.DataFrame) -> pd.DataFrame:
    """Final train and test metric per replica, long format, divergent replicas dropped."""
    final = final_rows(history)
    final = final[~final["diverged"]]
    long = final.melt(
        id_vars=["optimizer", "alpha", "seed"],
        value_vars=list(QUANTITIES.values()),
        var_name="quantity",
        value_name="value",
    )
    long["quantity"] = long["quantity"].map({v: k for k, v in QUANTITIES.items()})
    long["optimizer"] = long["optimizer"].map(lambda o: OPTIMIZER_LABELS.get(o, o))
    return long[np.isfinite(long["value"])]


def plot_alpha_sweep(history: pd.DataFrame, axes: np.ndarray | None = None) -> np.ndarray:
    """Two panels (training, held-out) of final normalised MSE vs alpha on log axes."""
    data = sweep_frame(history)
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(7.0, 2.8), sharey=True, layout="constrained")
    order = [
        OPTIMIZER_LABELS[o]
        for o in OPTIMIZER_LABELS
        if OPTIMIZER_LABELS[o] in set(data["optimizer"])
    ]
    for ax, (quantity, title) in zip(
        axes, (("train", "training set"), ("test", "held-out set")), strict=True
    ):
        sns.lineplot(
            data=data[data["quantity"] == quantity],
            x="alpha",
            y="value",
            hue="optimizer",
            hue_order=order,
            style="optimizer",
            style_order=order,
            markers=True,
            dashes=False,
            errorbar=("pi", 100),
            ax=ax,
            legend=quantity == "test",
        )
        ax.set(
            xscale="log",
            yscale="log",
            xlabel=r"loss scale $\alpha$",
            title=title,
            ylabel="final normalised MSE",
        )
        ax.axvline(1.0, color="0.6", lw=0.8, ls=":", zorder=0)
    sns.despine(fig=axes[0].figure)
    return axes
