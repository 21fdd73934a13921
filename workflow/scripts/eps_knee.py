"""Snakemake adapter: the predicted and measured eps knee of every qualifying cell."""

from typing import TYPE_CHECKING

from lossscale.io import setup_logging, write_csv
from lossscale.stats.knee import READ_COLUMNS, knee_table
from lossscale.stats.load import iter_histories

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = setup_logging(snakemake.log[0])
p = snakemake.params
table = knee_table(iter_histories(snakemake.input.train, READ_COLUMNS), p.eps, p.factor)
write_csv(table, snakemake.output.knee)
log.info("wrote the knees of %d cells to %s", len(table), snakemake.output.knee)
