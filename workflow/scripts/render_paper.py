"""Adapter for rule render_paper: context.json -> paper/build/{paper,supplement}.{tex,md},
figures, bib; captions name the result files of ``params.sources`` with their hashes."""

from pathlib import Path
from typing import TYPE_CHECKING

from lossscale.io import setup_logging
from lossscale.report.render import render_paper

if TYPE_CHECKING:
    from snakemake.script import snakemake

setup_logging(snakemake.log[0])
render_paper(
    context_path=snakemake.input.context,
    template_dir=snakemake.params.templates,
    out_dir=Path(snakemake.output.tex).parent,
    figures=snakemake.input.figures,
    sources=snakemake.params.sources,
)
