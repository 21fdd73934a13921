"""Snakemake adapter: the final-loss-vs-alpha figure."""

from typing import TYPE_CHECKING

from lossscale.figures.alpha_sweep import plot_alpha_sweep
from lossscale.figures.theme import save_figure, set_theme
from lossscale.io import setup_logging
from lossscale.stats.load import read_histories

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = setup_logging(snakemake.log[0])
set_theme()
history = read_histories(snakemake.input.train)
axes = plot_alpha_sweep(history)
save_figure(axes[0].figure, snakemake.output.pdf, snakemake.output.png)
log.info("wrote %s and %s", snakemake.output.pdf, snakemake.output.png)
