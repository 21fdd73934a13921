"""Snakemake adapter: the asker's phase diagram and its predicted against measured
boundaries."""

from typing import TYPE_CHECKING

from lossscale.io import setup_logging, write_csv
from lossscale.stats.load import iter_histories
from lossscale.stats.phase import READ_COLUMNS, boundary_table, phase_table

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = setup_logging(snakemake.log[0])
p = snakemake.params
table = phase_table(iter_histories(snakemake.input.train, READ_COLUMNS), p.config)
settings = p.config["phase"]
boundaries = boundary_table(table, settings["oversized"], settings["trains"], p.factor)
write_csv(table, snakemake.output.phase)
write_csv(boundaries, snakemake.output.boundaries)
log.info("wrote %d settings to %s", len(table), snakemake.output.phase)
log.info("wrote %d boundaries to %s", len(boundaries), snakemake.output.boundaries)
