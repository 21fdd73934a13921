# Derivation checks: every claims file of the reviewed ledger (symbolic proofs, float64
# trajectories, bitwise float32 trajectories); a contradicted claim fails the job and
# writes nothing. The job shares independent claims out to `threads` worker processes
# (up to 4, leaving a core to the training beside it); the results do not depend on how
# many. It needs no training result: its priority starts it first, so that it does not
# wait for free cores and run after the training.
DERIVATIONS = ROOT / "src/lossscale/derivations"


rule check_claims:
    input:
        ledger=sorted((DERIVATIONS / "claims").glob("*.yaml")),
        code=script_code("check_claims"),
    output:
        claims="results/derivations/claims.csv",
        symbolic="results/derivations/symbolic.json",
        ledger="results/derivations/ledger.json",
    log:
        "logs/check_claims.log",
    benchmark:
        "results/runtime/check_claims.tsv"
    priority: 10
    conda:
        ENV
    threads: min(4, max(1, workflow.cores - 1))
    resources:
        **placement(),
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
        cpus_per_task=cpus_from_threads,
    params:
        steps=config["derivations"]["steps"],
        tolerance=config["derivations"]["tolerance"],
        float32_tolerance=config["derivations"]["float32_tolerance"],
        torch_threads=config["threads"],
    script:
        "../scripts/check_claims.py"
