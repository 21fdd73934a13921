"""Snakemake adapter: the final-metric-vs-alpha figure (one panel per task)."""

from typing import TYPE_CHECKING

from lossscale.figures.alpha_sweep import plot_alpha_sweep
from lossscale.figures.theme import save_figure, set_theme
from lossscale.io import setup_logging
from lossscale.stats.load import read_final

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = setup_logging(snakemake.log[0])
p = snakemake.params
set_theme()
fig = plot_alpha_sweep(
    read_final(snakemake.input.train),
    tasks=dict(p.tasks),
    settings=dict(p.settings),
    task_order=list(p.orders["task"]),
    optimizer_order=list(p.orders["optimizer"]),
)
save_figure(fig, snakemake.output.pdf, snakemake.output.png)
log.info("wrote %s and %s", snakemake.output.pdf, snakemake.output.png)
