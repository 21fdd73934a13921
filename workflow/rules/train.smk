# Training grid: one cell per (task, optimizer, precision), whose runs (the
# regularizations x compensations x alphas x seeds that the config's blocks ask for) train
# together as one stacked model, into one parquet file and one log. A job (rule
# train_batch_<n>) trains `cells_per_job` cells one after another, so that Python and
# torch start once for them; the results do not depend on how the cells are cut.
for BATCH, CELLS in enumerate(TRAIN_BATCHES):

    rule:
        name:
            f"train_batch_{BATCH}"
        input:
            code=script_code("train_cells"),
        output:
            parquet=[cell.path for cell in CELLS],
        log:
            [cell.log for cell in CELLS],
        benchmark:
            f"results/runtime/train_batch/{BATCH}.tsv"
        group:
            "train"
        conda:
            ENV
        threads: config["threads"]
        resources:
            **placement(gpus=training_gpus()),
            mem_mb=per_attempt(2000),
            runtime=per_attempt(30 * len(CELLS)),
            cpus_per_task=cpus_from_threads,
        params:
            cells=[cell_params(cell) for cell in CELLS],
            record_every=config["train"]["record_every"],
            growth_interval=config["train"]["scaler_growth_interval"],
            device=config["device"],
            threads=config["threads"],
            config_hash=CONFIG_HASH,
            checkpoint_every=config["train"]["checkpoint_every"],
            root=ROOT,
        script:
            "../scripts/train_cells.py"


# The per-layer probe of a deeper network (config phase.layers): gradient RMS against eps
# at initialization, first update and distance travelled per layer, for the loss and the
# learning rate times each factor (header only when phase.layers.task is null).
rule probe_layers:
    input:
        code=script_code("probe_layers"),
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
        hyper=layer_hyperparameters(),
        seeds=config["train"]["seeds"],
        steps=config["train"]["steps"],
        device=config["device"],
        threads=config["threads"],
    script:
        "../scripts/probe_layers.py"
