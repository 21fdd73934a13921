"""The asker's phase diagram: the factor (x) against the loss magnitude (y, the target
scale), one row of panels per arm (the loss or the learning rate times the factor, or eps
divided by it; the last two with the loss unscaled), one column per optimizer and output
scaling. Each cell is coloured by the mean final training metric
(results/stats/asker_phase.csv) and marked where the setting blew up (a cross where seeds
turned non-finite, a triangle where they exploded but stayed finite, a plus where a
minority of seeds blew up, a dot where it trained) and framed where the asker's observation appears. The predicted
boundaries of results/stats/asker_phase_boundaries.csv are drawn per row of cells: where
the first update leaves the eps regime (dashed) and where it becomes oversized (solid).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from lossscale.figures.common import alpha_text, legend, optimizer_label, ordered, require
from lossscale.figures.theme import TEXT_WIDTH
from lossscale.study.cells import blocks
from lossscale.tables import PHASE_ARMS

NAME = "phase_diagram"
#: The arms in row order, with their labels.
ARM_TITLES = {
    "loss": r"loss $\times\,a$",
    "lr": r"learning rate $\times\,a$",
    "eps": r"$\epsilon\,/\,a$",
}
assert list(ARM_TITLES) == list(PHASE_ARMS.values())
#: The colour scale of the final training metric (normalized MSE), in decades.
METRIC_RANGE = (1e-2, 1e2)
#: The predicted boundaries drawn, with their line styles.
LINES = {
    "normalized": {"color": "#cc79a7", "linestyle": "--", "linewidth": 1.3},
    "blows_up": {"color": "#d55e00", "linestyle": "-", "linewidth": 1.3},
}
LINE_LABELS = {
    "normalized": "predicted: update leaves the eps regime",
    "blows_up": "predicted: first update oversized",
}
#: The outcome marks: trained (a dot), blew up with non-finite seeds (a cross) or finite
#: (a triangle), a minority of seeds blew up (a plus, whatever the outcome).
MARKS = {
    "trains": {"marker": "o", "color": "white", "markersize": 1.8, "markeredgewidth": 0},
    "diverged": {"marker": "x", "color": "black", "markersize": 4, "markeredgewidth": 0.8},
    "blows_up": {"marker": "^", "color": "white", "markeredgecolor": "black",
                 "markeredgewidth": 0.5, "markersize": 4},
    "minority": {"marker": "+", "color": "white", "markersize": 4, "markeredgewidth": 0.9},
}  # fmt: skip
MARK_LABELS = {
    "trains": "trained",
    "diverged": "blew up, seeds non-finite",
    "blows_up": "blew up, finite",
    "minority": "a minority of seeds blew up",
}
#: Height of one row of panels, in inches.
PANEL_INCHES = 1.45


def _edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges half a decade either side of log-spaced ``centres``."""
    logs = np.log10(centres)
    if len(logs) == 1:
        return 10.0 ** np.array([logs[0] - 0.5, logs[0] + 0.5])
    mids = (logs[1:] + logs[:-1]) / 2
    return 10.0 ** np.concatenate([[2 * logs[0] - mids[0]], mids, [2 * logs[-1] - mids[-1]]])


def panels(phase: pd.DataFrame, config: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """The columns of panels: (optimizer, output scaled), optimizers in the order the phase
    blocks name them, the output-scaled panels first."""
    named = [o for b in blocks(config).values() if b["phase"] for o in b["optimizers"]]
    optimizers = ordered(phase["optimizer"], list(dict.fromkeys(named)))
    present = set(zip(phase["optimizer"], phase["output_scaled"].astype(bool), strict=True))
    return [(o, s) for s in (True, False) for o in optimizers if (o, s) in present]


def _staircase(ax: plt.Axes, rows: pd.DataFrame, x_edges: np.ndarray, style: dict) -> None:
    """A predicted boundary as a staircase: per target scale, a vertical segment at the
    predicted factor across that row of cells (left out where outside the panel)."""
    if rows.empty:
        return
    rows = rows.sort_values("target_scale")
    y_edges = _edges(rows["target_scale"].to_numpy(float))
    xs, ys = [], []
    predicted = rows["predicted"].astype(float)
    for (low, high), value in zip(itertools.pairwise(y_edges), predicted, strict=True):
        if not (np.isfinite(value) and x_edges[0] <= value <= x_edges[-1]):
            if xs:
                ax.plot(xs, ys, **style, zorder=3)
            xs, ys = [], []
            continue
        xs += [value, value]
        ys += [low, high]
    if xs:
        ax.plot(xs, ys, **style, zorder=3)


def _mark(row) -> str:
    """The outcome mark of one phase row (a key of ``MARKS``, or its outcome: unmarked)."""
    if row.outcome == "blows_up":
        return "diverged" if row.n_diverged else "blows_up"
    return "minority" if row.n_diverged + row.n_exploded else row.outcome


def _cells(ax: plt.Axes, cells: pd.DataFrame, factors: np.ndarray, norm, cmap):
    """One panel's cells: the colour mesh, the blow-up marks and the asker's frame."""
    scales = np.array(sorted(cells["target_scale"].astype(float).unique()))
    x_edges, y_edges = _edges(factors), _edges(scales)
    grid = cells.pivot_table(
        index="target_scale", columns="factor", values="train_metric", dropna=False
    ).reindex(index=scales, columns=factors)
    mesh = ax.pcolormesh(x_edges, y_edges, grid.to_numpy(float), cmap=cmap, norm=norm)
    for row in cells.itertuples():
        if mark := MARKS.get(_mark(row)):
            ax.plot(row.factor, row.target_scale, **mark, linestyle="none", zorder=4)
        if row.asker_pattern and row.arm != "eps":
            low = (row.factor / 10**0.5, row.target_scale / 10**0.5)
            size = (row.factor * (10**0.5 - 10**-0.5), row.target_scale * (10**0.5 - 10**-0.5))
            ax.add_patch(plt.Rectangle(low, *size, fill=False, edgecolor="black",
                                       linewidth=1.1, zorder=5))  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(x_edges[0], x_edges[-1])
    ax.set_ylim(y_edges[0], y_edges[-1])
    ax.set_xticks(factors[::2], [alpha_text(f) for f in factors[::2]])
    ax.set_yticks(scales, [alpha_text(s) for s in scales])
    ax.minorticks_off()
    ax.tick_params(length=2, labelleft=True, labelbottom=True)
    ax.set_facecolor("0.8")
    return mesh


def plot_phase_diagram(
    phase: pd.DataFrame, boundaries: pd.DataFrame, config: Mapping[str, Any]
) -> plt.Figure:
    """One row of panels per arm, one column per (optimizer, output scaling); a colour
    bar and a legend of the marks and lines."""
    phase = require(phase, NAME, "no rows in asker_phase.csv")
    columns = panels(phase, config)
    arms = [a for a in ARM_TITLES if a in set(phase["arm"])]
    factors = np.array(sorted(phase["factor"].astype(float).unique()))
    norm = mcolors.LogNorm(*METRIC_RANGE)
    cmap = plt.get_cmap("viridis").with_extremes(bad="0.8")
    fig, axes = plt.subplots(
        len(arms),
        len(columns),
        figsize=(TEXT_WIDTH, PANEL_INCHES * len(arms) + 0.9),
        squeeze=False,
        layout="constrained",
    )
    mesh = None
    for j, (optimizer, scaled) in enumerate(columns):
        part = phase[(phase["optimizer"] == optimizer) & (phase["output_scaled"] == scaled)]
        mine = boundaries[
            (boundaries["optimizer"] == optimizer) & (boundaries["output_scaled"] == scaled)
        ]
        title = optimizer_label(optimizer) + ("" if scaled else "\n(output unscaled)")
        for i, arm in enumerate(arms):
            ax = axes[i, j]
            cells = part[part["arm"] == arm]
            if i == 0:
                ax.set_title(title, pad=4)
            if j == 0:
                ax.set_ylabel(ARM_TITLES[arm] + ":\ntarget scale")
            if cells.empty:
                ax.set_axis_off()
                ax.text(0.5, 0.5, f"no {arm} arm", ha="center", va="center", transform=ax.transAxes)
                continue
            mesh = _cells(ax, cells, factors, norm, cmap)
            for boundary, style in LINES.items():
                rows = mine[(mine["arm"] == arm) & (mine["boundary"] == boundary)]
                _staircase(ax, rows, _edges(factors), style)
    fig.supxlabel("factor $a$", fontsize=8)
    if mesh is not None:
        bar = fig.colorbar(mesh, ax=axes, shrink=0.7, extend="both", pad=0.01)
        trains = config["phase"]["trains"]
        bar.ax.axhline(trains, color="white", linewidth=1.2)
        bar.set_label(f"final training normalized MSE (line: trains, {trains:g})")
    handles = [plt.Line2D([], [], **style) for style in LINES.values()]
    handles += [
        plt.Line2D([], [], **(mark | {"markeredgecolor": "black", "markeredgewidth": 0.5}),
                   linestyle="none")
        for mark in MARKS.values()
    ]  # fmt: skip
    handles.append(plt.Line2D([], [], linestyle="none"))
    handles.append(plt.Rectangle((0, 0), 1, 1, fill=False, edgecolor="black", linewidth=1.1))
    labels = [*LINE_LABELS.values(), *MARK_LABELS.values(), "no mark: stalled"]
    labels.append("the asker's observation")
    labels = dict(enumerate(labels))
    legend(fig, labels, {}, ncols=3, handles=handles)
    sns.despine(fig=fig, left=True, bottom=True)
    return fig
