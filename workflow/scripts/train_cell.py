"""Snakemake adapter: train one (task, optimizer, precision) cell."""

from typing import TYPE_CHECKING

from lossscale.io import setup_logging
from lossscale.train.cell import train_cell

if TYPE_CHECKING:
    from snakemake.script import snakemake

setup_logging(snakemake.log[0])
p = snakemake.params
train_cell(
    task=snakemake.wildcards.task,
    optimizer=snakemake.wildcards.optimizer,
    precision=snakemake.wildcards.precision,
    task_settings=dict(p.task_settings),
    hyper=dict(p.hyper),
    replicas=list(p.replicas),
    steps=p.steps,
    record_every=p.record_every,
    device=p.device,
    threads=p.threads,
    config_hash=p.config_hash,
    output=snakemake.output.parquet,
    repo_root=p.root,
    checkpoint=p.checkpoint,
    checkpoint_every=p.checkpoint_every,
)
