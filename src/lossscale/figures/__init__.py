"""Figures: one module per figure, one shared theme, deterministic PDF and PNG files.

This module stays free of plotting imports (the workflow reads it while parsing):
``available_figures`` says which figures a config has data for, ``figure_inputs`` which
result files each one reads, and ``draw`` renders one from those files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import import_module
from pathlib import Path
from typing import Any

from lossscale.report import slices
from lossscale.study import cells

#: Every figure, in the paper's order.
FIGURES = (
    "alpha_sweep",
    "verdict_heatmap",
    "phase_diagram",
    "asker_curves",
    "regularization",
    "precision",
)
COMPARISONS = "results/stats/comparisons.csv"
KNEE = "results/stats/knee.csv"
PHASE = "results/stats/asker_phase.csv"
PHASE_BOUNDARIES = "results/stats/asker_phase_boundaries.csv"


def _figure_block(name: str, config: Mapping[str, Any]) -> str | None:
    """The block a figure draws (None where the config has none for it)."""
    finders = {
        "alpha_sweep": slices.main_block,
        "verdict_heatmap": slices.main_block,
        "phase_diagram": slices.phase_block,
        "asker_curves": slices.asker_block,
        "regularization": slices.regularization_block,
        "precision": slices.precision_block,
    }
    return finders[name](config)


def available_figures(config: Mapping[str, Any]) -> list[str]:
    """The figures the (validated) config has data for, in the paper's order: the alpha
    sweep and the verdict heatmap where the main block has alpha = 1 and another alpha,
    the others where a block has what they show (phase: true, lr_instead, several
    regularizations, several precisions)."""
    main = cells.blocks(config)[slices.main_block(config)]
    alphas = {float(a) for a in main["alphas"]}
    compares = cells.REF_ALPHA in alphas and len(alphas) > 1
    return [
        name
        for name in FIGURES
        if _figure_block(name, config) is not None
        and (compares or name not in ("alpha_sweep", "verdict_heatmap"))
    ]


def figure_inputs(name: str, config: Mapping[str, Any]) -> dict[str, list[str]]:
    """The result files figure ``name`` reads: ``train`` (the parquet files of its
    block's jobs, sorted), ``comparisons`` and/or ``knee`` (the stats tables)."""
    if name == "verdict_heatmap":
        return {"comparisons": [COMPARISONS]}
    if name == "phase_diagram":
        return {"phase": [PHASE], "boundaries": [PHASE_BOUNDARIES]}
    from lossscale.study.grid import block_jobs  # (imports torch: only when called)

    block_name = _figure_block(name, config)
    block = cells.blocks(config)[block_name]
    focus = slices.block_focus(block)
    tasks = block["tasks"] if name == "alpha_sweep" else [focus["task"]]
    precisions = block["precisions"] if name == "precision" else [focus["precision"]]
    optimizers = block["optimizers"][:1] if name == "asker_curves" else block["optimizers"]
    paths = sorted(
        job.path
        for job in block_jobs(block_name, block, config)
        if job.task in tasks and job.optimizer in optimizers and job.precision in precisions
    )
    return {"train": paths, **({"knee": [KNEE]} if name == "alpha_sweep" else {})}


def draw(name: str, inputs: Mapping[str, Sequence[str | Path]], config: Mapping[str, Any]):
    """Figure ``name`` (a matplotlib Figure) from its input files (``figure_inputs``)."""
    import pandas as pd

    from lossscale.stats.load import read_final, read_histories

    module = import_module(f"lossscale.figures.{name}")
    plot = getattr(module, f"plot_{name}")
    if name == "verdict_heatmap":
        return plot(pd.read_csv(inputs["comparisons"][0]), config)
    if name == "phase_diagram":
        return plot(pd.read_csv(inputs["phase"][0]), pd.read_csv(inputs["boundaries"][0]), config)
    if name == "alpha_sweep":
        return plot(read_final(inputs["train"]), pd.read_csv(inputs["knee"][0]), config)
    if name == "regularization":
        return plot(read_final(inputs["train"]), config)
    return plot(read_histories(inputs["train"]), config)
