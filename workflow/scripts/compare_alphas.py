"""Snakemake adapter: the paired comparison table of the whole training grid."""

from typing import TYPE_CHECKING

from lossscale.io import setup_logging, write_csv
from lossscale.stats.load import read_histories
from lossscale.stats.paired import compare_all

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = setup_logging(snakemake.log[0])
p = snakemake.params
table = compare_all(read_histories(snakemake.input.train), p.confidence, p.resamples, p.seed)
write_csv(table, snakemake.output.comparisons)
log.info("wrote %d comparisons to %s", len(table), snakemake.output.comparisons)
