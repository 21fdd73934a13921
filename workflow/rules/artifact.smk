# The artifact: results/provenance.json, where this run came from (commit, config hash,
# package versions, Python, hardware, per-rule wall times). `make archive` packs it with
# the config, results/ and paper/build/; `make verify` checks such an archive.

from lossscale.provenance import git_commit


rule provenance:
    input:
        summary=rules.summarize_runtime.output.summary,
        code=script_code("provenance"),
    output:
        provenance="results/provenance.json",
    log:
        "logs/provenance.log",
    conda:
        ENV
    params:
        config_hash=CONFIG_HASH,
        # a param, so that a new commit (or a clean/dirty change) rewrites the file
        commit=git_commit(ROOT),
    script:
        "../scripts/provenance.py"
