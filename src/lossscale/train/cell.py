"""One training cell (task, optimizer, precision): every alpha x seed replica, stacked."""

from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lossscale.device import make_deterministic, resolve_device
from lossscale.io import atomic_path
from lossscale.provenance import git_commit, package_versions
from lossscale.tables import TRAIN_ID_COLUMNS, TRAIN_RECORD_COLUMNS
from lossscale.tasks import make_task
from lossscale.train.checkpoint import fingerprint
from lossscale.train.engine import History, train_stacked
from lossscale.train.precision import precision as get_precision

log = logging.getLogger(__name__)


def history_frame(
    history: History, ids: dict[str, str], alphas: list[float], seeds: list[int]
) -> pd.DataFrame:
    """Tidy table: one row per (replica, step), replicas in the order trained."""
    steps, replicas = history.columns["train_loss"].shape
    frame = pd.DataFrame(
        {
            **{k: [v] * (steps * replicas) for k, v in ids.items()},
            "alpha": [a for a in alphas for _ in range(steps)],
            "seed": [s for s in seeds for _ in range(steps)],
            "step": list(range(steps)) * replicas,
            **{c: history.columns[c].T.reshape(-1) for c in TRAIN_RECORD_COLUMNS},
        }
    )
    return frame[[*TRAIN_ID_COLUMNS, *TRAIN_RECORD_COLUMNS]]


def write_parquet(frame: pd.DataFrame, path: str | Path, provenance: dict) -> None:
    """Write ``frame`` atomically with ``provenance`` as JSON in the file's metadata."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = {**(table.schema.metadata or {}), b"lossscale": json.dumps(provenance, sort_keys=True)}
    with atomic_path(path) as tmp:
        pq.write_table(table.replace_schema_metadata(meta), tmp)


def train_cell(
    task: str,
    optimizer: str,
    precision: str,
    task_settings: dict,
    hyper: dict,
    alphas: list[float],
    seeds: int,
    steps: int,
    device: str,
    threads: int,
    config_hash: str,
    output: str | Path,
    repo_root: str | Path = ".",
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 0,
) -> pd.DataFrame:
    """Train every (alpha, seed) replica of one cell together and write the parquet file.

    With ``checkpoint``, an interrupted job resumes from its last checkpoint (saved every
    ``checkpoint_every`` steps); the checkpoint is removed once the parquet is written.
    """
    make_deterministic(threads)
    dev = resolve_device(device)
    prec = get_precision(precision)
    data = make_task(task, task_settings, prec.dtype, dev)
    pairs = list(itertools.product(alphas, range(seeds)))
    rep_alphas, rep_seeds = [a for a, _ in pairs], [s for _, s in pairs]
    label = f"{task}/{optimizer}/{precision}"
    log.info(
        "%s: %d replicas (%d alphas x %d seeds), %d steps on %s",
        label,
        len(pairs),
        len(alphas),
        seeds,
        steps,
        dev,
    )
    spec = {
        "task": task,
        "settings": task_settings,
        "optimizer": optimizer,
        "hyper": hyper,
        "precision": precision,
        "alphas": rep_alphas,
        "seeds": rep_seeds,
        "steps": steps,
        "device": dev.type,
        "threads": threads,
    }
    history = train_stacked(
        data,
        rep_seeds,
        rep_alphas,
        optimizer,
        hyper,
        steps,
        label,
        progress_every=max(1, steps // 10),
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        fingerprint=fingerprint(spec),
        precision=prec,
    )
    ids = {"task": task, "optimizer": optimizer, "precision": precision}
    frame = history_frame(history, ids, rep_alphas, rep_seeds)
    provenance = {
        "commit": git_commit(repo_root),
        "config_hash": config_hash,
        "versions": package_versions(),
        "device": dev.type,
        "threads": threads,
        "hyperparameters": hyper,
    }
    write_parquet(frame, output, provenance)
    if checkpoint is not None:
        Path(checkpoint).unlink(missing_ok=True)
    final = frame[frame["step"] == steps]
    log.info("%s: done, %d/%d replicas diverged", label, int(final["diverged"].sum()), len(pairs))
    return frame
