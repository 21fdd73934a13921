"""Figures: one module per figure, one shared theme, deterministic PDF and PNG files.

A figure is its module and one entry in :data:`REGISTRY`, which says which block it
draws and what it reads (and, for a figure the text does not discuss, its caption).
This module stays free of plotting imports (the workflow reads it while parsing):
``available_figures`` says which figures a config has data for, ``figure_inputs`` which
result files each one reads, and ``draw`` renders one from those files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

from lossscale.report import slices
from lossscale.study import cells
from lossscale.study.grid import block_jobs
from lossscale.study.optimizers import eps_optimizers

#: How a figure reads its block's training files: final rows, or every recorded step.
READERS = ("final", "histories")


@dataclass(frozen=True)
class Figure:
    """One figure: the block it draws and what it reads. Its module,
    ``lossscale.figures.<name>``, draws it with ``plot_<name>(*data, config)``, where
    ``data`` is its training rows (when it reads them) and then its stats tables."""

    name: str
    #: the block it draws, from the validated config (None: the config has none)
    block: Callable[[Mapping[str, Any]], str | None]
    #: the stats tables it reads, by the names the workflow gives them
    tables: tuple[str, ...] = ()
    #: how it reads its block's training files (None: it reads none)
    train: str | None = None
    #: which of the block's cells it reads: every task (else the focus task), every
    #: precision (else the focus precision), the first optimizer only
    all_tasks: bool = False
    all_precisions: bool = False
    first_optimizer: bool = False
    #: of the block's optimizers only those with eps that a phase block trains too
    phase_eps_optimizers: bool = False
    #: drawn only when the main block has alpha = 1 and another alpha
    compares: bool = False
    #: a figure the text does not discuss: its caption (plain text), and the paper shows
    #: it under "Further figures"; empty for the figures the templates place, whose
    #: captions are ``paper/templates/partials/caption_<name>.j2``
    caption: str = ""

    def __post_init__(self) -> None:
        if self.train not in (None, *READERS):
            raise ValueError(f"figure {self.name!r}: train {self.train!r} not in {READERS}")


#: Every figure: the paper's in its order, then the supplement's in its order
#: (``lossscale.report.render.FIGURES_IN`` says which are the paper's).
REGISTRY: tuple[Figure, ...] = (
    Figure(
        "mechanism",
        slices.eps_compensation_block,
        tables=("phase",),
        train="histories",
        phase_eps_optimizers=True,
    ),
    Figure("phase_diagram", slices.phase_block, tables=("phase", "phase_boundaries")),
    Figure("verdict_heatmap", slices.main_block, tables=("comparisons",), compares=True),
    Figure("models_sweep", slices.models_block, tables=("knee",), train="final", all_tasks=True),
    # the supplement's
    Figure(
        "alpha_sweep",
        slices.main_block,
        tables=("knee",),
        train="final",
        all_tasks=True,
        compares=True,
    ),
    Figure("asker_curves", slices.asker_block, train="histories", first_optimizer=True),
    Figure("regularization", slices.regularization_block, train="final"),
    Figure("precision", slices.precision_block, train="histories", all_precisions=True),
)
FIGURES = tuple(f.name for f in REGISTRY)
_BY_NAME = {f.name: f for f in REGISTRY}


def available_figures(config: Mapping[str, Any]) -> list[str]:
    """The figures the (validated) config has data for, in the paper's order: those
    that compare alphas where the main block has alpha = 1 and another alpha, each where
    a block has what it shows (phase: true, compensation eps beside a phase block,
    lr_instead, several regularizations, several precisions)."""
    main = cells.blocks(config)[slices.main_block(config)]
    alphas = {float(a) for a in main["alphas"]}
    compares = cells.REF_ALPHA in alphas and len(alphas) > 1
    return [
        f.name for f in REGISTRY if f.block(config) is not None and (compares or not f.compares)
    ]


def figure_inputs(
    name: str, config: Mapping[str, Any], tables: Mapping[str, str]
) -> dict[str, list[str]]:
    """The files figure ``name`` reads: ``train`` (the parquet files of its block's jobs
    that it shows, sorted) and its stats tables (``tables`` maps their names to paths)."""
    figure = _BY_NAME[name]
    out = {table: [str(tables[table])] for table in figure.tables}
    if figure.train is None:
        return out
    block_name = figure.block(config)
    block = cells.blocks(config)[block_name]
    focus = slices.block_focus(block)
    tasks = block["tasks"] if figure.all_tasks else [focus["task"]]
    precisions = block["precisions"] if figure.all_precisions else [focus["precision"]]
    optimizers = block["optimizers"][:1] if figure.first_optimizer else block["optimizers"]
    if figure.phase_eps_optimizers:
        phased = {o for b in cells.blocks(config).values() if b["phase"] for o in b["optimizers"]}
        optimizers = [o for o in optimizers if o in phased and o in eps_optimizers()]
    out["train"] = sorted(
        job.path
        for job in block_jobs(block_name, block, config)
        if job.task in tasks and job.optimizer in optimizers and job.precision in precisions
    )
    return out


def draw(name: str, inputs: Mapping[str, Sequence[str | Path]], config: Mapping[str, Any]):
    """Figure ``name`` (a matplotlib Figure) from its input files (``figure_inputs``)."""
    from lossscale.io import read_csv
    from lossscale.stats.load import read_final, read_histories
    from lossscale.tables import STATS_COLUMNS

    figure = _BY_NAME[name]
    data = []
    if figure.train is not None:
        read = read_final if figure.train == "final" else read_histories
        data.append(read(inputs["train"]))
    data += [read_csv(inputs[t][0], required=STATS_COLUMNS[t]) for t in figure.tables]
    plot = getattr(import_module(f"lossscale.figures.{name}"), f"plot_{name}")
    return plot(*data, config)
