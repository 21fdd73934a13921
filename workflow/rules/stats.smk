# Statistics: paired-by-seed comparisons of every alpha against alpha = 1.


rule compare_alphas:
    input:
        train=train_outputs(),
        code=package_code("stats", "io.py", "tables.py"),
    output:
        comparisons="results/stats/comparisons.csv",
    log:
        "logs/compare_alphas.log",
    conda:
        ENV
    params:
        confidence=config["stats"]["confidence"],
        resamples=config["stats"]["bootstrap_resamples"],
        seed=config["stats"]["seed"],
    script:
        "../scripts/compare_alphas.py"
