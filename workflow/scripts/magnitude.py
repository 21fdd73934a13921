"""Snakemake adapter: paired runs of tasks whose losses differ by a constant factor."""

from typing import TYPE_CHECKING

import pandas as pd

from lossscale.io import setup_logging, write_csv
from lossscale.stats.load import read_final
from lossscale.stats.magnitude import READ_COLUMNS, magnitude_table
from lossscale.tables import MAGNITUDE_COLUMNS

if TYPE_CHECKING:
    from snakemake.script import snakemake

log = setup_logging(snakemake.log[0])
if snakemake.input.train:
    final = read_final(snakemake.input.train, READ_COLUMNS)
    table = magnitude_table(final, snakemake.params.tasks)
else:  # the grid has no two tasks whose losses differ by a constant factor
    table = pd.DataFrame(columns=list(MAGNITUDE_COLUMNS))
write_csv(table, snakemake.output.magnitude)
log.info("wrote %d loss-magnitude pairs to %s", len(table), snakemake.output.magnitude)
