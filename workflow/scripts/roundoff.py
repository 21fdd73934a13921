"""Snakemake adapter: round-off against effect in the cells where loss x alpha is undone."""

from typing import TYPE_CHECKING

from lossscale.io import setup_logging, write_csv
from lossscale.stats.load import iter_histories
from lossscale.stats.roundoff import READ_COLUMNS, roundoff_table

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = setup_logging(snakemake.log[0])
table = roundoff_table(
    iter_histories(snakemake.input.train, READ_COLUMNS), snakemake.params.untrained
)
write_csv(table, snakemake.output.roundoff)
log.info("wrote %d round-off rows to %s", len(table), snakemake.output.roundoff)
