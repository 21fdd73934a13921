"""Final held-out metric against alpha: one panel per task, one line per optimizer.

Only the main settings (one precision, regularization and compensation: see
``lossscale.stats.slices``) are drawn, so a line never mixes runs of different settings;
each point is the mean over the seeds that did not diverge.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
import seaborn as sns

from lossscale.figures.theme import PALETTE
from lossscale.stats.load import final_rows
from lossscale.stats.paired import QUANTITIES
from lossscale.stats.slices import MAIN_SETTINGS, is_classification, metric_axis_label
from lossscale.tables import OPTIMIZER_LABELS

#: Panels per row of the figure.
COLUMNS = 3
#: Filled markers (seaborn does not mix filled and line-art ones); with the palette's
#: ten colours (dashed lines once they repeat), every optimizer gets its own look.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "p", "h", "*", "d", "8", "H")


def sweep_frame(
    history: pd.DataFrame,
    settings: Mapping[str, str] = MAIN_SETTINGS,
    quantity: str = "test",
) -> pd.DataFrame:
    """Final ``quantity`` metric per replica at ``settings`` (precision, regularization,
    compensation), long format (task, optimizer, alpha, seed, value), divergent and
    non-finite values dropped; optimizers carry their display labels."""
    final = final_rows(history)
    keep = ~final["diverged"].astype(bool)
    for axis, value in settings.items():
        if axis in final.columns:
            keep &= final[axis] == value
    final = final[keep]
    out = pd.DataFrame(
        {
            "task": final["task"].astype(str),
            "optimizer": final["optimizer"].map(lambda o: OPTIMIZER_LABELS.get(o, o)),
            "alpha": final["alpha"].astype(float),
            "seed": final["seed"],
            "value": final[QUANTITIES[quantity]].astype(float),
        }
    )
    return out[np.isfinite(out["value"])].reset_index(drop=True)


def _ordered(values: Sequence[str], order: Sequence[str] | None) -> list[str]:
    """``values`` in ``order`` (unknown ones last, sorted)."""
    order = list(order or [])
    known = [v for v in order if v in values]
    return known + sorted(set(values) - set(known))


def plot_alpha_sweep(
    history: pd.DataFrame,
    tasks: Mapping[str, Mapping[str, Any]] | None = None,
    settings: Mapping[str, str] = MAIN_SETTINGS,
    task_order: Sequence[str] | None = None,
    optimizer_order: Sequence[str] | None = None,
) -> plt.Figure:
    """One panel per task (final held-out metric vs alpha, log x), one line per optimizer.

    ``tasks`` maps task names to their config settings (the metric's kind: normalized MSE
    on log axes for regressions, error rate on a linear axis for classifications);
    ``task_order`` and ``optimizer_order`` (optimizer names) fix the panel and legend order.
    """
    tasks = tasks or {}
    data = sweep_frame(history, settings)
    names = _ordered(list(dict.fromkeys(data["task"])), task_order)
    labels = [OPTIMIZER_LABELS.get(o, o) for o in (optimizer_order or OPTIMIZER_LABELS)]
    hue_order = _ordered(list(dict.fromkeys(data["optimizer"])), labels)
    ncols = max(1, min(COLUMNS, len(names)))
    nrows = max(1, math.ceil(len(names) / ncols))
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(2.45 * ncols + 0.2, 2.15 * nrows + 0.9),
        squeeze=False,
        layout="constrained",
    )
    colours = sns.color_palette(PALETTE)
    palette = {h: colours[i % len(colours)] for i, h in enumerate(hue_order)}
    markers = {h: MARKERS[i % len(MARKERS)] for i, h in enumerate(hue_order)}
    # past the palette's length, colours repeat: those lines are dashed
    dashes = {h: "" if i < len(colours) else (3, 1.5) for i, h in enumerate(hue_order)}
    for ax, name in zip(axes.flat, names, strict=False):
        settings_of = tasks.get(name, {})
        sns.lineplot(
            data=data[data["task"] == name],
            x="alpha",
            y="value",
            hue="optimizer",
            hue_order=hue_order,
            palette=palette,
            style="optimizer",
            style_order=hue_order,
            markers=markers,
            dashes=dashes,
            markersize=4,
            linewidth=1.0,
            errorbar=None,
            ax=ax,
            legend=False,
        )
        ax.set(xscale="log", xlabel=r"loss scale $\alpha$", ylabel=metric_axis_label(settings_of))
        ax.set_xticks(_decade_ticks(data["alpha"].min(), data["alpha"].max()))
        ax.xaxis.set_minor_locator(mticker.NullLocator())
        if is_classification(settings_of):
            ax.set_ylim(bottom=0)
        else:
            ax.set_yscale("log")
        ax.set_title(name, fontsize="medium")
        ax.axvline(1.0, color="0.6", lw=0.8, ls=":", zorder=0)
    for ax in axes.flat[len(names) :]:
        ax.set_axis_off()
    if hue_order:
        handles = [
            plt.Line2D(
                [],
                [],
                color=palette[h],
                marker=markers[h],
                markersize=4,
                lw=1.0,
                ls="-" if dashes[h] == "" else (0, dashes[h]),
            )
            for h in hue_order
        ]
        fig.legend(
            handles,
            hue_order,
            loc="outside lower center",
            ncols=min(len(hue_order), 8),
            frameon=False,
            fontsize="small",
        )
    sns.despine(fig=fig)
    return fig


def _decade_ticks(low: float, high: float, most: int = 5) -> list[float]:
    """Powers of ten from ``low`` to ``high`` at an even stride, at most ``most`` of them
    (always including 1 where the range has it)."""
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    stride = max(1, math.ceil((last - first) / (most - 1)))
    return [10.0**k for k in range(first, last + 1) if k % stride == 0]
