"""Adapter for rule render_runtime: summary.json -> paper/build/runtime.{tex,md}."""

from pathlib import Path
from typing import TYPE_CHECKING

from lossscale.io import setup_logging
from lossscale.report.render import render_runtime

if TYPE_CHECKING:
    from snakemake.script import snakemake

setup_logging(snakemake.log[0])
render_runtime(
    snakemake.input.summary, snakemake.params.templates, Path(snakemake.output.tex).parent
)
