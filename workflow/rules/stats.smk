# Statistics: paired-by-seed comparisons of every alpha against alpha = 1, per cell
# (task, optimizer, precision, regularization, compensation, weight decay), on the final
# recorded step of every replica; the eps knee; round-off against effect in the cells
# where loss x alpha is exactly undone; the asker's phase diagram.


rule compare_alphas:
    input:
        train=train_outputs(),
        code=script_code("compare_alphas"),
    output:
        comparisons="results/stats/comparisons.csv",
    log:
        "logs/compare_alphas.log",
    benchmark:
        "results/runtime/compare_alphas.tsv"
    conda:
        ENV
    resources:
        **placement(),
        mem_mb=per_attempt(1000),
        runtime=per_attempt(10),
        cpus_per_task=cpus_from_threads,
    params:
        confidence=config["stats"]["confidence"],
        resamples=config["stats"]["bootstrap_resamples"],
        seed=config["stats"]["seed"],
        test=config["stats"]["test"],
        margin=config["stats"]["margin"],
        level=config["stats"]["level"],
        untrained=config["stats"]["untrained"],
        # a seed blew up: the phase map's criterion
        explode=config["phase"]["explode"],
    script:
        "../scripts/compare_alphas.py"


rule eps_knee:
    input:
        train=jobs_read_by(selections.knee_job),
        code=script_code("eps_knee"),
    output:
        knee="results/stats/knee.csv",
    log:
        "logs/eps_knee.log",
    benchmark:
        "results/runtime/eps_knee.tsv"
    conda:
        ENV
    resources:
        **placement(),
        mem_mb=per_attempt(1000),
        runtime=per_attempt(10),
        cpus_per_task=cpus_from_threads,
    params:
        eps=selections.eps_settings(config["optimizers"]),
        factor=config["stats"]["knee_factor"],
    script:
        "../scripts/eps_knee.py"


rule describe_networks:
    input:
        code=script_code("describe_networks"),
    output:
        networks="results/stats/networks.csv",
    log:
        "logs/describe_networks.log",
    benchmark:
        "results/runtime/describe_networks.tsv"
    conda:
        ENV
    resources:
        **placement(),
        mem_mb=per_attempt(1000),
        runtime=per_attempt(10),
        cpus_per_task=cpus_from_threads,
    params:
        tasks=config["tasks"],
    script:
        "../scripts/describe_networks.py"


rule roundoff:
    input:
        train=jobs_read_by(selections.roundoff_job),
        code=script_code("roundoff"),
    output:
        roundoff="results/stats/roundoff.csv",
    log:
        "logs/roundoff.log",
    benchmark:
        "results/runtime/roundoff.tsv"
    conda:
        ENV
    resources:
        **placement(),
        mem_mb=per_attempt(1000),
        runtime=per_attempt(10),
        cpus_per_task=cpus_from_threads,
    params:
        untrained=config["stats"]["untrained"],
    script:
        "../scripts/roundoff.py"


rule magnitude:
    input:
        train=jobs_read_by(lambda job: job.task in magnitude_tasks()),
        code=script_code("magnitude"),
    output:
        magnitude="results/stats/magnitude.csv",
    log:
        "logs/magnitude.log",
    benchmark:
        "results/runtime/magnitude.tsv"
    conda:
        ENV
    resources:
        **placement(),
        mem_mb=per_attempt(1000),
        runtime=per_attempt(10),
        cpus_per_task=cpus_from_threads,
    params:
        tasks=config["tasks"],
    script:
        "../scripts/magnitude.py"


rule asker_phase:
    input:
        train=phase_outputs(),
        code=script_code("asker_phase"),
    output:
        phase="results/stats/asker_phase.csv",
        boundaries="results/stats/asker_phase_boundaries.csv",
    log:
        "logs/asker_phase.log",
    benchmark:
        "results/runtime/asker_phase.tsv"
    conda:
        ENV
    resources:
        **placement(),
        mem_mb=per_attempt(1000),
        runtime=per_attempt(10),
        cpus_per_task=cpus_from_threads,
    params:
        config={key: config[key] for key in ("tasks", "train", "optimizers", "phase")},
        factor=config["stats"]["knee_factor"],
    script:
        "../scripts/asker_phase.py"
