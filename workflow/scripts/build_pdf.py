"""Adapter for rule build_pdf: paper/build/{paper,supplement}.tex -> .pdf (latexmk)."""

from typing import TYPE_CHECKING

from lossscale.io import setup_logging
from lossscale.report.latex import build_pdf

if TYPE_CHECKING:
    from snakemake.script import snakemake

setup_logging(snakemake.log[0])
build_pdf(tex_path=snakemake.input.tex, pdf_path=snakemake.output.pdf)
build_pdf(tex_path=snakemake.input.supplement, pdf_path=snakemake.output.supplement)
