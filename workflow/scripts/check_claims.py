"""Adapter for rule check_claims: check the derivation claims, write claims.csv."""

from typing import TYPE_CHECKING

from lossscale.derivations import run_derivations
from lossscale.io import setup_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake

setup_logging(snakemake.log[0])
run_derivations(
    claims_path=snakemake.input.ledger,
    output=snakemake.output.claims,
    steps=snakemake.params.steps,
    tolerance=snakemake.params.tolerance,
    threads=snakemake.params.threads,
)
