"""Adapter for rule provenance: results/runtime/summary.json -> results/provenance.json."""

from typing import TYPE_CHECKING

from lossscale.io import read_json, setup_logging, write_json
from lossscale.provenance import provenance_record
from lossscale.runtime import SUMMARY_KEYS

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = setup_logging(snakemake.log[0])
record = provenance_record(
    summary=read_json(snakemake.input.summary, required=SUMMARY_KEYS),
    config_hash=snakemake.params.config_hash,
    commit=snakemake.params.commit,
)
write_json(record, snakemake.output.provenance)
log.info(
    "wrote %s: commit %s, config %s",
    snakemake.output.provenance,
    record["commit"],
    record["config_hash"],
)
