# Statistics: paired-by-seed comparisons of every alpha against alpha = 1, per cell
# (task, optimizer, precision, regularization, compensation, weight decay), on the final
# recorded step of every replica.


rule compare_alphas:
    input:
        train=train_outputs(),
        code=package_code("stats/load.py", "stats/paired.py", "io.py", "tables.py"),
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
