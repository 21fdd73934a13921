"""Snakemake adapter: every task's network, its size and its data split."""

from typing import TYPE_CHECKING

from lossscale.io import setup_logging, write_csv
from lossscale.train.networks import network_table

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = setup_logging(snakemake.log[0])
table = network_table(snakemake.params.tasks)
write_csv(table, snakemake.output.networks)
log.info("wrote %d networks to %s", len(table), snakemake.output.networks)
