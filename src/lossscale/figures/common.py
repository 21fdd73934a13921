"""Helpers the figure modules share: a block's rows, seed means, styles, axes, legends."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
import seaborn as sns

from lossscale.figures.theme import PALETTE, TEXT_WIDTH
from lossscale.report.slices import block_focus
from lossscale.study.cells import AXES, REF_ALPHA, blocks, is_classification
from lossscale.tables import OPTIMIZER_LABELS

#: Filled markers, one per line of a panel (with the palette's colours).
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "p", "h", "*", "d", "8", "H")
#: Display names of the precisions and regularizations.
PRECISION_LABELS = {"float16_scaled": "float16 + GradScaler"}
REGULARIZATION_LABELS = {
    "none": "none",
    "coupled": "coupled weight decay",
    "decoupled": "decoupled weight decay",
    "l2": "L2 term in the loss",
}


def require(frame: pd.DataFrame, figure: str, what: str) -> pd.DataFrame:
    """``frame``, or a ValueError naming the figure when it has no rows."""
    if frame.empty:
        raise ValueError(f"figure {figure}: no data to draw ({what})")
    return frame


def find_block(
    config: Mapping[str, Any],
    finder: Callable[[Mapping[str, Any]], str | None],
    figure: str,
    what: str,
) -> Mapping[str, Any]:
    """The block ``finder(config)`` names; a ValueError naming ``figure`` when it names
    none (``what``: the kind of block it looks for)."""
    name = finder(config)
    if name is None:
        raise ValueError(f"figure {figure}: no block {what}")
    return blocks(config)[name]


def block_setting(
    data: pd.DataFrame,
    block: Mapping[str, Any],
    config: Mapping[str, Any],
    key: str,
    names: Mapping[str, str],
) -> dict[str, Any]:
    """What a figure of one block that crosses ``key`` needs: its focus setting, the
    focus task's settings (a one-item list), the legend labels of the ``key`` values in
    block order, the metric's y scale and the optimizers in block order."""
    focus = block_focus(block)
    task = [config["tasks"].get(focus["task"], {})]
    return {
        "focus": focus,
        "task": task,
        "labels": {k: names.get(k, k) for k in ordered(data[key], block[AXES[key]])},
        "scale": metric_scale(task),
        "optimizers": ordered(data["optimizer"], block["optimizers"]),
    }


def optimizer_label(name: str) -> str:
    """An optimizer's display name."""
    return OPTIMIZER_LABELS.get(name, name)


def ordered(values: Iterable[Any], order: Sequence[Any]) -> list[Any]:
    """The distinct ``values`` in ``order``, unknown ones last (sorted)."""
    present = set(values)
    known = [v for v in order if v in present]
    return known + sorted(present - set(known))


def block_knees(
    knee: pd.DataFrame, block: Mapping[str, Any], settings: Mapping[str, Any]
) -> pd.DataFrame:
    """The rows of knee.csv that ``block`` trains, at ``settings`` (precision,
    regularization, compensation) and the block's steps and batch size, where the
    predicted knee is finite."""
    keep = knee["task"].isin(block["tasks"]) & knee["optimizer"].isin(block["optimizers"])
    for axis, value in settings.items():
        keep &= knee[axis] == value
    keep &= (knee["steps"] == block["steps"]) & (knee["batch_size"] == block["batch_size"])
    return knee[keep & np.isfinite(knee["predicted_knee"].astype(float))]


def seed_means(rows: pd.DataFrame, by: Sequence[str], columns: Sequence[str]) -> pd.DataFrame:
    """Per group ``by``: the mean, min and max of ``columns`` over the seeds that did not
    diverge (non-finite values dropped), ``n_seeds`` and ``n_diverged``. A group whose
    seeds all diverged keeps NaN statistics."""
    diverged = rows["diverged"].astype(bool)
    data = rows[list(by)].copy()
    for column in columns:
        values = rows[column].astype(float)
        data[column] = values.where(~diverged & np.isfinite(values))
    data["diverged"] = diverged
    grouped = data.groupby(list(by), sort=True)
    out = grouped[list(columns)].agg(["mean", "min", "max"])
    out.columns = [c if s == "mean" else f"{c}_{s}" for c, s in out.columns]
    out["n_seeds"] = grouped.size()
    out["n_diverged"] = grouped["diverged"].sum().astype(int)
    return out.reset_index()


def styles(keys: Sequence[Any]) -> dict[Any, dict[str, Any]]:
    """A colour and marker per key, in order (dashed once the palette's colours repeat)."""
    colours = sns.color_palette(PALETTE)
    return {
        key: {
            "color": colours[i % len(colours)],
            "marker": MARKERS[i % len(MARKERS)],
            "linestyle": "-" if i < len(colours) else "--",
        }
        for i, key in enumerate(keys)
    }


def draw_lines(
    ax: plt.Axes,
    frame: pd.DataFrame,
    key: str,
    y: str,
    keys: Sequence[Any],
    style: Mapping[Any, Mapping[str, Any]],
    x: str = "alpha",
) -> None:
    """One line per value of ``key`` (y against x), and a cross at the top of the panel
    where every seed of a point diverged. Later lines get smaller markers, so that lines
    which coincide stay visible."""
    for i, value in enumerate(keys):
        line = frame[frame[key] == value].sort_values(x)
        if line.empty:
            continue
        size = max(2.0, 5.0 - 0.8 * i)
        ax.plot(line[x], line[y], markersize=size, linewidth=1.0, **style[value])
        lost = line[line[y].isna() & (line["n_diverged"] > 0)]
        if lost.empty:  # (an empty line in axes coordinates upsets the layout)
            continue
        ax.plot(
            lost[x],
            np.ones(len(lost)),
            transform=ax.get_xaxis_transform(),
            linestyle="none",
            marker="x",
            markersize=4,
            color=style[value]["color"],
            clip_on=False,
        )


def decade_ticks(low: float, high: float, most: int = 5) -> list[float]:
    """Powers of ten from ``low`` to ``high`` at an even stride, at most ``most`` of them
    (1 among them where the range has it)."""
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    stride = max(1, math.ceil((last - first) / (most - 1)))
    return [10.0**k for k in range(first, last + 1) if k % stride == 0]


def alpha_axis(ax: plt.Axes, alphas: Iterable[float], label: bool = True, most: int = 5) -> None:
    """A log alpha axis with (at most ``most``) decade ticks and alpha = 1 marked by a
    dotted grey line."""
    alphas = [float(a) for a in alphas]
    ax.set_xscale("log")
    ax.set_xticks(decade_ticks(min(alphas), max(alphas), most))
    ax.xaxis.set_minor_locator(mticker.NullLocator())
    ax.axvline(REF_ALPHA, color="0.55", linewidth=0.8, linestyle=":", zorder=0)
    if label:
        ax.set_xlabel(r"loss scale $\alpha$")


def metric_scale(tasks: Iterable[Mapping[str, Any]]) -> str:
    """``log`` for normalized MSEs, ``linear`` where a task is a classification."""
    return "linear" if any(is_classification(t) for t in tasks) else "log"


def y_scale(ax: plt.Axes, scale: str) -> None:
    """A linear y axis from 0, or a log one labelled at 1, 2 and 5 x powers of ten."""
    ax.set_yscale(scale)
    if scale == "linear":
        ax.set_ylim(bottom=0)
        return
    ax.yaxis.set_major_locator(mticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_locator(mticker.NullLocator())


def metric_axis(ax: plt.Axes, tasks: Iterable[Mapping[str, Any]]) -> None:
    """The metric's y axis (``metric_scale``)."""
    y_scale(ax, metric_scale(tasks))


def metric_label(tasks: Sequence[Mapping[str, Any]], quantity: str, when: str = "final") -> str:
    """The metric's axis label: ``final test normalized MSE``, ``... error rate``."""
    kinds = {is_classification(t) for t in tasks}
    metric = "metric" if len(kinds) > 1 else ("error rate" if kinds == {True} else "normalized MSE")
    return f"{when} {quantity} {metric}".strip()


def alpha_text(alpha: float) -> str:
    """alpha as a short math label: 10^k, 2^k or the number."""
    if alpha > 0:
        for base in (10, 2):
            k = round(math.log(alpha, base))
            if k and float(base) ** k == alpha:
                return rf"$10^{{{k}}}$" if base == 10 else rf"$2^{{{k}}}$"
    return f"{alpha:g}"


def panel_grid(
    nrows: int, ncols: int, height: float, **kwargs: Any
) -> tuple[plt.Figure, np.ndarray]:
    """A text-wide figure of ``nrows`` x ``ncols`` panels, each row ``height`` inches."""
    return plt.subplots(
        nrows,
        ncols,
        figsize=(TEXT_WIDTH, height * nrows + 0.3),
        squeeze=False,
        layout="constrained",
        **kwargs,
    )


def legend(
    fig: plt.Figure,
    labels: Mapping[Any, str],
    style: Mapping[Any, Mapping[str, Any]],
    title: str | None = None,
    ncols: int | None = None,
    handles: Sequence[Any] | None = None,
) -> None:
    """A legend below the figure, one entry per key of ``labels`` (lines in ``style``
    unless ``handles`` are given); outside the layout, so panels keep their size."""
    if handles is None:
        handles = [plt.Line2D([], [], markersize=3.5, linewidth=1.0, **style[k]) for k in labels]
    fig.legend(
        handles,
        list(labels.values()),
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncols=ncols or min(len(labels), 6),
        frameon=False,
        title=title,
    )


def alpha_grid(
    data: pd.DataFrame,
    key: str,
    labels: Mapping[Any, str],
    panels: Sequence[tuple[str, str, str]],
    optimizers: Sequence[str],
    title: str,
) -> plt.Figure:
    """One column per optimizer and one row per ``(column, y label, y scale)`` of
    ``panels``: the column against alpha, one line per value of ``key`` (``labels``
    maps the values, in order, to legend entries)."""
    style = styles(list(labels))
    fig, axes = panel_grid(len(panels), len(optimizers), 1.55, sharex=True, sharey="row")
    for j, optimizer in enumerate(optimizers):
        part = data[data["optimizer"] == optimizer]
        for i, (column, ylabel, scale) in enumerate(panels):
            ax = axes[i, j]
            draw_lines(ax, part, key, column, list(labels), style)
            alpha_axis(ax, data["alpha"], label=i == len(panels) - 1)
            y_scale(ax, scale)
            if i == 0:
                ax.set_title(optimizer_label(optimizer), pad=6)
            if j == 0:
                ax.set_ylabel(ylabel)
    legend(fig, labels, style, title=title, ncols=min(len(labels), 5))
    sns.despine(fig=fig)
    return fig
