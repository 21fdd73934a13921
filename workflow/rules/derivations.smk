# Derivation checks: paired float64 optimizer trajectories decide each claim of the
# reviewed ledger; a contradicted claim fails the job (and removes its output).


rule check_claims:
    input:
        ledger=ROOT / "src/lossscale/derivations/claims.yaml",
    output:
        claims="results/derivations/claims.csv",
    log:
        "logs/check_claims.log",
    benchmark:
        "results/runtime/check_claims.tsv"
    conda:
        ENV
    threads: config["threads"]
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        steps=config["derivations"]["steps"],
        tolerance=config["derivations"]["tolerance"],
        threads=config["threads"],
    script:
        "../scripts/check_claims.py"
