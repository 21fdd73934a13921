"""Adapter for rule build_context: result files + config -> results/report/context.json."""

from typing import TYPE_CHECKING

from lossscale.io import setup_logging
from lossscale.report.context import write_context

if TYPE_CHECKING:
    from snakemake.script import snakemake

setup_logging(snakemake.log[0])
names = (
    "claims",
    "comparisons",
    "knee",
    "roundoff",
    "magnitude",
    "phase",
    "phase_boundaries",
    "layers",
    "networks",
)
names += ("symbolic", "ledger")
write_context(
    inputs={name: snakemake.input[name] for name in names},
    config=snakemake.params.study,
    config_hash=snakemake.params.config_hash,
    figures=snakemake.params.figures,
    out=snakemake.output.context,
    repo=snakemake.params.root,
)
