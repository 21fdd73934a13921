"""Snakemake adapter for rule plot_figure: one figure from its result files."""

from typing import TYPE_CHECKING

from lossscale.figures import draw
from lossscale.figures.theme import save_figure, set_theme
from lossscale.io import setup_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = setup_logging(snakemake.log[0])
name = snakemake.wildcards.figure
inputs = {
    key: [paths] if isinstance(paths, str) else list(paths)
    for key, paths in snakemake.input.items()
    if key != "code"
}
set_theme()
fig = draw(name, inputs, snakemake.params.config)
save_figure(fig, snakemake.output.pdf, snakemake.output.png)
log.info("wrote %s and %s", snakemake.output.pdf, snakemake.output.png)
