"""Adapter for rule check_claims: check the derivation claims, write the ledger's results."""

from typing import TYPE_CHECKING

from lossscale.derivations import run_derivations
from lossscale.io import setup_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

setup_logging(snakemake.log[0])
run_derivations(
    claims_path=list(snakemake.input.ledger),
    output=snakemake.output.claims,
    symbolic_output=snakemake.output.symbolic,
    ledger_output=snakemake.output.ledger,
    steps=snakemake.params.steps,
    tolerance=snakemake.params.tolerance,
    float32_tolerance=snakemake.params.float32_tolerance,
    threads=snakemake.params.torch_threads,
    workers=snakemake.threads,
)
