# Training grid: one job per (task, optimizer, precision); all its replicas (the
# regularizations x compensations x alphas x seeds that the config's blocks ask for)
# train together as one stacked model.


rule train_cell:
    input:
        code=package_code(
            "train", "models", "optim", "tasks", "device.py", "io.py", "tables.py"
        ),
    output:
        parquet="results/train/{task}/{optimizer}/{precision}.parquet",
    log:
        "logs/train_cell/{task}/{optimizer}/{precision}.log",
    benchmark:
        "results/runtime/train_cell/{task}/{optimizer}/{precision}.tsv"
    conda:
        ENV
    threads: config["threads"]
    resources:
        **placement(gpus=training_gpus()),
        mem_mb=per_attempt(2000),
        runtime=per_attempt(30),
        cpus_per_task=cpus_from_threads,
    params:
        task_settings=lambda wc: config["tasks"][wc.task],
        hyper=lambda wc: config["optimizers"][wc.optimizer],
        replicas=job_replicas,
        steps=config["train"]["steps"],
        record_every=config["train"]["record_every"],
        device=config["device"],
        threads=config["threads"],
        config_hash=CONFIG_HASH,
        checkpoint="results/checkpoints/{task}/{optimizer}/{precision}.pt",
        checkpoint_every=config["train"]["checkpoint_every"],
        root=ROOT,
    script:
        "../scripts/train_cell.py"


# The per-layer probe of a deeper network (config phase.layers): gradient RMS against eps
# at initialization, first update and distance travelled per layer, for the loss and the
# learning rate times each factor (header only when phase.layers.task is null).
rule probe_layers:
    input:
        code=package_code(
            "train", "models", "optim", "tasks", "device.py", "io.py", "tables.py"
        ),
    output:
        layers="results/stats/layer_gradients.csv",
    log:
        "logs/probe_layers.log",
    benchmark:
        "results/runtime/probe_layers.tsv"
    conda:
        ENV
    threads: config["threads"]
    resources:
        **placement(gpus=training_gpus()),
        mem_mb=per_attempt(2000),
        runtime=per_attempt(30),
        cpus_per_task=cpus_from_threads,
    params:
        probe=config["phase"]["layers"],
        task_settings=layer_task_settings(),
        hyper=config["optimizers"][config["phase"]["layers"]["optimizer"]],
        seeds=config["train"]["seeds"],
        steps=config["train"]["steps"],
        device=config["device"],
        threads=config["threads"],
    script:
        "../scripts/probe_layers.py"
