# lossscale: one command from config.yaml to paper/build/paper.{pdf,tex,md}.
# This file is a table of contents; the rules live in workflow/rules/, the logic in
# src/lossscale/.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/derivations.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/stats.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/artifact.smk"


rule all:
    default_target: True
    input:
        get_final_output(),
