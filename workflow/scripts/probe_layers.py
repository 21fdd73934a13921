"""Snakemake adapter: per-layer gradients against eps of the probed network."""

from typing import TYPE_CHECKING

import pandas as pd

from lossscale.io import setup_logging, write_csv
from lossscale.tables import LAYER_COLUMNS
from lossscale.train.layers import layer_table

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = setup_logging(snakemake.log[0])
p = snakemake.params
if p.probe["task"] is None:
    table = pd.DataFrame(columns=list(LAYER_COLUMNS))
else:
    table = layer_table(
        task=p.probe["task"],
        task_settings=dict(p.task_settings),
        optimizer=p.probe["optimizer"],
        hyper=dict(p.hyper),
        alphas=list(p.probe["alphas"]),
        seeds=p.seeds,
        steps=p.steps,
        device=p.device,
        threads=p.threads,
    )
write_csv(table, snakemake.output.layers)
log.info("wrote %d rows to %s", len(table), snakemake.output.layers)
