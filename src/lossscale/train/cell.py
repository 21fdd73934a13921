"""One training cell (task, optimizer, precision): all its replicas, stacked."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lossscale.device import keep_freed_memory, make_deterministic, resolve_device
from lossscale.io import atomic_path
from lossscale.provenance import git_commit, package_versions
from lossscale.tables import REPLICA_COLUMNS, TRAIN_ID_COLUMNS, TRAIN_RECORD_COLUMNS
from lossscale.tasks import make_task
from lossscale.train.checkpoint import fingerprint
from lossscale.train.engine import History, train_stacked
from lossscale.train.precision import precision as get_precision
from lossscale.train.variants import Replica, replica_setup

log = logging.getLogger(__name__)


#: Arrow types of a cell's identifying values (task names, batch size, steps).
_ID_TYPES = {str: pa.string(), int: pa.int64()}


def history_table(history: History, ids: dict[str, str | int], replicas: list[Replica]) -> pa.Table:
    """Tidy table: one row per (replica, recorded step), replicas in the order trained.

    Built with pyarrow alone: a training job does not import pandas (half a second).
    """
    n, r = len(history.steps), len(replicas)
    columns = {
        **{k: pa.array([v] * (n * r), _ID_TYPES[type(v)]) for k, v in ids.items()},
        **{
            field: np.repeat([getattr(rep, field) for rep in replicas], n)
            for field in REPLICA_COLUMNS
        },
        "step": np.tile(history.steps, r),
        **{c: history.columns[c].T.reshape(-1) for c in TRAIN_RECORD_COLUMNS},
    }
    return pa.table({c: columns[c] for c in (*TRAIN_ID_COLUMNS, *TRAIN_RECORD_COLUMNS)})


def write_parquet(table: pa.Table, path: str | Path, provenance: dict) -> None:
    """Write ``table`` atomically with ``provenance`` as JSON in the file's metadata."""
    meta = {**(table.schema.metadata or {}), b"lossscale": json.dumps(provenance, sort_keys=True)}
    with atomic_path(path) as tmp:
        pq.write_table(table.replace_schema_metadata(meta), tmp)


def train_cell(
    *,
    task: str,
    optimizer: str,
    precision: str,
    batch_size: int,
    steps: int,
    task_settings: dict,
    hyper: dict,
    replicas: list[dict],
    device: str,
    threads: int,
    config_hash: str,
    output: str | Path,
    repo_root: str | Path,
    checkpoint: str | Path | None,
    checkpoint_every: int,
    record_every: int,
    growth_interval: int,
) -> pa.Table:
    """Train every replica of one cell together, write the parquet file and return it.

    Every argument comes from the validated config (its defaults are the schema's).

    ``replicas`` are mappings with the fields of :class:`~lossscale.train.variants.Replica`
    (regularization, compensation, weight_decay, alpha, seed). With ``checkpoint``, an
    interrupted job resumes from its last checkpoint (saved every ``checkpoint_every``
    steps); the checkpoint is removed once the parquet is written.
    """
    make_deterministic(threads)
    keep_freed_memory()
    dev = resolve_device(device)
    prec = get_precision(precision)
    data = make_task(task, task_settings, prec.dtype, dev)
    reps = [Replica(**r) for r in replicas]
    setup = replica_setup(optimizer, hyper, reps)
    label = f"{task}/{optimizer}/{precision}"
    batches = f"batches of {batch_size}" if batch_size else "full batch"
    log.info("%s: %d replicas, %d steps (%s) on %s", label, len(reps), steps, batches, dev)
    spec = {
        "task": task,
        "settings": task_settings,
        "optimizer": optimizer,
        "hyper": hyper,
        "precision": precision,
        "replicas": [dataclasses.asdict(r) for r in reps],
        "steps": steps,
        "batch_size": batch_size,
        "growth_interval": growth_interval,
        "record_every": record_every,
        "device": dev.type,
        "threads": threads,
    }
    history = train_stacked(
        data,
        setup.seeds,
        setup.loss_scales,
        optimizer,
        setup.hyper,
        steps,
        label,
        progress_every=max(1, steps // 10),
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        fingerprint=fingerprint(spec),
        precision=prec,
        l2=setup.l2,
        record_every=record_every,
        batch_size=batch_size,
        growth_interval=growth_interval,
    )
    ids = {
        "task": task,
        "optimizer": optimizer,
        "precision": precision,
        "batch_size": batch_size,
        "steps": steps,
    }
    table = history_table(history, ids, reps)
    provenance = {
        "commit": git_commit(repo_root),
        "config_hash": config_hash,
        "versions": package_versions(),
        "device": dev.type,
        "threads": threads,
        "hyperparameters": hyper,
    }
    write_parquet(table, output, provenance)
    if checkpoint is not None:
        Path(checkpoint).unlink(missing_ok=True)
    log.info(
        "%s: done, %d/%d replicas diverged",
        label,
        int(history.columns["diverged"][-1].sum()),
        len(reps),
    )
    return table
