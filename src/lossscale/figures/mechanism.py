"""The mechanism: why multiplying the loss by a factor ``a`` helps an Adam-type optimizer
only through eps. One panel per optimizer with eps in the phase diagram (output scaled):
the first update's RMS over the base learning rate eta (y) against the scaled gradient at
initialization over eps, ``a RMS(g0) / eps`` (x), both logarithmic.

- loss x a (results/stats/asker_phase.csv, arm ``loss``, every target scale, one marker
  each): below eps the update is ``(eta / eps) m``, so y = x; past it the update
  saturates at about eta, the normalized step. The target scales collapse onto one
  curve: only the scaled gradient over eps matters.
- learning rate x a (arm ``lr``): y = x below eps as well, but y keeps growing with
  ``a`` past it. Here x is the position on the map, ``a`` times the unscaled gradient
  over eps, not the gradient the optimizer sees (that stays ``RMS(g0)``).
- loss x a and eps x a (the eps-compensated runs of the first block whose
  compensations include ``eps``, on its focus task; from its training tables, the step-0
  rows): the update is the unscaled one at every ``a``, a flat line.

``RMS(g0)`` is the unscaled loss's gradient RMS at initialization (the phase table's
``grad_rms_init``; for the eps-compensated runs that of the block's runs with
compensation none and alpha = 1, over the same seeds), eps and eta the optimizer's base
values on the task (the phase table's ``eps`` and ``lr``). The first update's RMS is the
phase table's ``update_rms_first`` times ``param_rms_init`` (it is stored relative to the
parameters' RMS), and the training tables' ``update_rms`` at step 0 (mean over seeds).
The shaded band is the eps regime (x < 1), the dotted line the normalized step (y = 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
import seaborn as sns

from lossscale.figures.common import (
    MARKERS,
    alpha_text,
    decade_ticks,
    find_block,
    legend,
    optimizer_label,
    ordered,
    panel_grid,
    require,
)
from lossscale.figures.theme import PALETTE
from lossscale.report.slices import block_focus, eps_compensation_block
from lossscale.stats.load import block_rows
from lossscale.study.cells import REF_ALPHA, blocks

NAME = "mechanism"
#: The series, in drawing order, with their legend labels.
SERIES = {
    "lr": r"learning rate $\times\,a$",
    "loss": r"loss $\times\,a$",
    "compensated": r"loss $\times\,a$, $\epsilon \times a$ ($\epsilon$-compensated)",
}
#: Each series' colour (an index into the palette).
COLOURS = {"loss": 0, "lr": 1, "compensated": 2}
#: The x axis: the scaled gradient at initialization over eps.
XLABEL = r"scaled gradient at initialization over $\epsilon$, $a\,\mathrm{RMS}(g_0)/\epsilon$"
#: Height of the row of panels, in inches.
PANEL_INCHES = 2.5


def _block(config: Mapping[str, Any]) -> Mapping[str, Any]:
    return find_block(
        config, eps_compensation_block, NAME, "has the compensation eps and a phase optimizer"
    )


def panel_optimizers(phase: pd.DataFrame, config: Mapping[str, Any]) -> list[str]:
    """The panels: the optimizers with eps in the phase table's output-scaled rows, in the
    order the phase blocks name them."""
    rows = phase[phase["output_scaled"].astype(bool) & phase["eps"].notna()]
    named = [o for b in blocks(config).values() if b["phase"] for o in b["optimizers"]]
    return ordered(rows["optimizer"], list(dict.fromkeys(named)))


def arm_frame(phase: pd.DataFrame) -> pd.DataFrame:
    """The loss and learning-rate arms of the phase table, output scaled, optimizers with
    eps: one row per (optimizer, arm, target scale, factor) with ``x`` (factor times the
    unscaled gradient RMS over eps) and ``y`` (the first update's RMS over the base
    learning rate); points that a log axis cannot show dropped."""
    keep = (
        phase["arm"].isin(["loss", "lr"])
        & phase["output_scaled"].astype(bool)
        & phase["eps"].notna()
    )
    rows = phase[keep]
    out = rows[["optimizer", "arm", "target_scale", "factor"]].assign(
        x=rows["factor"] * rows["grad_rms_init"] / rows["eps"],
        y=rows["update_rms_first"] * rows["param_rms_init"] / rows["lr"],
    )
    return out[_drawable(out)].reset_index(drop=True)


def compensated_frame(
    histories: pd.DataFrame, phase: pd.DataFrame, config: Mapping[str, Any]
) -> pd.DataFrame:
    """The eps-compensated runs (compensation ``eps``) of the block
    ``eps_compensation_block`` names, at its focus setting: per panel optimizer and alpha,
    ``x`` (alpha times the unscaled gradient RMS at initialization, over eps), ``y`` (the
    first update's RMS over the base learning rate, mean over seeds), ``target_scale``
    and ``n_seeds``. The unscaled gradient RMS is that of the block's runs with
    compensation none and alpha = 1 (mean over the same seeds); eps and the learning rate
    are the phase table's for the optimizer on the focus task. An optimizer without those
    rows has none."""
    block = _block(config)
    focus = block_focus(block)
    task = focus["task"]
    fixed = {axis: focus[axis] for axis in ("task", "precision", "regularization")}
    init = block_rows(histories, block, **fixed)
    init = init[init["step"] == 0]
    out = []
    for optimizer in panel_optimizers(phase, config):
        base = phase[(phase["optimizer"] == optimizer) & (phase["task"] == task)]
        mine = init[init["optimizer"] == optimizer]
        runs = mine[mine["compensation"] == "eps"]
        ref = mine[
            (mine["compensation"] == "none")
            & (mine["alpha"] == REF_ALPHA)
            & mine["seed"].isin(runs["seed"])
        ]
        if base.empty or runs.empty or ref.empty:
            continue
        lr, eps = float(base["lr"].iloc[0]), float(base["eps"].iloc[0])
        grad = float(ref["grad_rms"].mean())
        update = runs.groupby("alpha")["update_rms"].agg(["mean", "size"])
        out.append(
            pd.DataFrame(
                {
                    "optimizer": optimizer,
                    "alpha": update.index.to_numpy(float),
                    "x": update.index.to_numpy(float) * grad / eps,
                    "y": update["mean"].to_numpy(float) / lr,
                    "target_scale": float(base["target_scale"].iloc[0]),
                    "n_seeds": update["size"].to_numpy(int),
                }
            )
        )
    columns = ["optimizer", "alpha", "x", "y", "target_scale", "n_seeds"]
    if not out:
        return pd.DataFrame(columns=columns)
    frame = pd.concat(out, ignore_index=True)[columns]
    return frame[_drawable(frame)].reset_index(drop=True)


def _drawable(frame: pd.DataFrame) -> pd.Series:
    """Rows whose x and y are finite and positive (a log axis shows them)."""
    x, y = frame["x"].astype(float), frame["y"].astype(float)
    return np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)


def _limits(values: pd.Series) -> tuple[float, float]:
    """Half a decade beyond the smallest and largest value, 1 always inside."""
    logs = np.log10(np.concatenate([values.to_numpy(float), [1.0]]))
    return 10.0 ** (logs.min() - 0.5), 10.0 ** (logs.max() + 0.5)


def _log_axis(axis, low: float, high: float) -> None:
    """Decade ticks (at most six), labelled as powers of ten, no minor ticks."""
    axis.set_major_locator(mticker.FixedLocator(decade_ticks(low, high, most=6)))
    axis.set_major_formatter(mticker.LogFormatterSciNotation())
    axis.set_minor_locator(mticker.NullLocator())


def plot_mechanism(
    histories: pd.DataFrame, phase: pd.DataFrame, config: Mapping[str, Any]
) -> plt.Figure:
    """One panel per optimizer with eps: the loss arm, the learning-rate arm (a line per
    target scale, a marker each) and the eps-compensated runs, over the eps regime and the
    normalized step; a legend of the series and target scales below."""
    phase = require(phase, NAME, "no rows in asker_phase.csv")
    arms = require(arm_frame(phase), NAME, "no loss or lr arm of an optimizer with eps")
    compensated = compensated_frame(histories, phase, config)
    names = [o for o in panel_optimizers(phase, config) if o in set(arms["optimizer"])]
    scales = sorted({*arms["target_scale"].astype(float), *compensated["target_scale"]})
    marker = {s: MARKERS[i % len(MARKERS)] for i, s in enumerate(scales)}
    palette = sns.color_palette(PALETTE)
    colour = {series: palette[i] for series, i in COLOURS.items()}
    x_low, x_high = _limits(pd.concat([arms["x"], compensated["x"]]))
    y_low, y_high = _limits(pd.concat([arms["y"], compensated["y"]]))
    fig, axes = panel_grid(1, len(names), PANEL_INCHES, sharex=True, sharey=True)
    for ax, optimizer in zip(axes.flat, names, strict=True):
        ax.axvspan(x_low, 1.0, color="0.92", linewidth=0, zorder=0)
        ax.axhline(1.0, color="0.25", linestyle=":", linewidth=1.0, zorder=1)
        ax.text(0.5, 0.97, r"$\epsilon$ regime", transform=ax.get_xaxis_transform(),
                ha="right", va="top", fontsize=7, color="0.3")  # fmt: skip
        ax.text(x_low * 10**0.3, 1.0, r"normalized step ($=\eta$)", ha="left", va="bottom",
                fontsize=7, color="0.25")  # fmt: skip
        part = arms[arms["optimizer"] == optimizer]
        for arm in ("lr", "loss"):
            for scale in scales:
                line = part[(part["arm"] == arm) & (part["target_scale"] == scale)]
                if line.empty:
                    continue
                line = line.sort_values("x")
                ax.plot(
                    line["x"], line["y"], color=colour[arm], marker=marker[scale],
                    markerfacecolor="none", markersize=3.5, markeredgewidth=0.8,
                    linewidth=0.7, gid=f"{arm}:{scale:g}", zorder=3,
                )  # fmt: skip
        line = compensated[compensated["optimizer"] == optimizer].sort_values("x")
        if not line.empty:
            ax.plot(
                line["x"], line["y"], color=colour["compensated"],
                marker=marker[float(line["target_scale"].iloc[0])], markersize=3.2,
                linewidth=1.2, gid="compensated", zorder=4,
            )  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(x_low, x_high)
        ax.set_ylim(y_low, y_high)
        _log_axis(ax.xaxis, x_low, x_high)
        _log_axis(ax.yaxis, y_low, y_high)
        ax.tick_params(labelleft=True)
        ax.set_title(optimizer_label(optimizer), pad=4)
    axes[0, 0].set_ylabel(r"first update RMS / $\eta$")
    fig.supxlabel(XLABEL, fontsize=8)
    shown = [s for s in SERIES if s != "compensated" or not compensated.empty]
    handles = [plt.Line2D([], [], color=colour[s], linewidth=1.2) for s in shown]
    labels = [SERIES[s] for s in shown]
    handles += [
        plt.Line2D([], [], color="0.35", marker=marker[s], markerfacecolor="none",
                   markersize=3.5, markeredgewidth=0.8, linestyle="none")
        for s in scales
    ]  # fmt: skip
    labels += [f"target scale {alpha_text(s)}" for s in scales]
    legend(fig, dict(enumerate(labels)), {}, ncols=4, handles=handles)
    sns.despine(fig=fig)
    return fig
