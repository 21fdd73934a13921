"""Adapter for rule summarize_runtime: benchmark files -> results/runtime/summary.json."""

from typing import TYPE_CHECKING

from lossscale.io import setup_logging, write_json
from lossscale.runtime import summarize

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = setup_logging(snakemake.log[0])
summary = summarize(snakemake.input.benchmarks, snakemake.params.root, snakemake.params.cores)
write_json(summary, snakemake.output.summary)
log.info("wrote %s: %d rules", snakemake.output.summary, len(summary["rules"]))
