"""Snakemake adapter: train the cells of one training job, one after another."""

from typing import TYPE_CHECKING

from lossscale.io import setup_logging
from lossscale.train.cell import train_cell

if TYPE_CHECKING:
    from snakemake.script import snakemake

p = snakemake.params
outputs, logs = snakemake.output.parquet, list(snakemake.log)
for cell, output, log in zip(p.cells, outputs, logs, strict=True):
    setup_logging(log)
    train_cell(
        **cell,
        record_every=p.record_every,
        growth_interval=p.growth_interval,
        device=p.device,
        threads=p.threads,
        config_hash=p.config_hash,
        output=output,
        repo_root=p.root,
        checkpoint_every=p.checkpoint_every,
    )
