"""Snakemake adapter: the paired comparison table of the whole training grid."""

from typing import TYPE_CHECKING

from lossscale.io import setup_logging, write_csv
from lossscale.stats.load import read_outcomes
from lossscale.stats.paired import compare_all

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = setup_logging(snakemake.log[0])
p = snakemake.params
final = read_outcomes(snakemake.input.train)
log.info("read the outcomes of %d replicas", len(final))
table = compare_all(
    final,
    p.confidence,
    p.resamples,
    p.seed,
    test=p.test,
    margin=p.margin,
    level=p.level,
    untrained=p.untrained,
    explode=p.explode,
)
write_csv(table, snakemake.output.comparisons)
log.info("wrote %d comparisons to %s", len(table), snakemake.output.comparisons)
