"""Read the training grid's parquet files into one tidy frame."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lossscale.io import read_parquet, unreadable
from lossscale.study.cells import AXES, REGIME
from lossscale.study.grid import Job
from lossscale.tables import CELL, JOB, TRAIN_ID_COLUMNS

#: What the statistics and the figures read from a training table: the replica's
#: identity, its step and the final metrics (the gradient statistics stay on disk).
FINAL_COLUMNS = (*CELL, "alpha", "seed", "step", "train_metric", "test_metric", "diverged")
#: The columns that name one replica (a training history is one replica's rows).
REPLICA_KEY = (*CELL, "alpha", "seed")


def read_table(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """One training table (only ``columns`` where given); ResultFileError when it is not
    one, or, under a ``train`` folder, holds another cell than its path names (a table
    copied to the wrong place: ``Job.path`` of its rows is not its path)."""
    frame = read_parquet(path, columns=columns, required=TRAIN_ID_COLUMNS)
    if "train" not in Path(path).parts or frame.empty:
        return frame
    ids = frame if set(JOB) <= set(frame.columns) else pd.read_parquet(path, columns=list(JOB))
    stems = sorted({Job(*cell).stem for cell in ids[list(JOB)].itertuples(index=False)})
    if stems != [stems[0]] or not Path(path).as_posix().endswith(f"train/{stems[0]}.parquet"):
        raise unreadable(path, "the training table of its cell", f"it holds cell(s) {stems}")
    return frame


def read_histories(paths: Iterable[str | Path], columns: list[str] | None = None) -> pd.DataFrame:
    """Concatenate the per-job training tables, in the order given."""
    frames = [read_table(p, columns=columns) for p in paths]
    if not frames:
        raise ValueError("no training results to read")
    return pd.concat(frames, ignore_index=True)


def final_rows(history: pd.DataFrame) -> pd.DataFrame:
    """The last recorded step of every replica (divergent ones included).

    Steps are recorded every ``train.record_every`` steps and at the last one, so the
    final row is the one with the largest step of its replica, whatever the spacing.
    """
    last = history.groupby(list(REPLICA_KEY), sort=False)["step"].transform("max")
    return history[history["step"] == last]


def outcomes(history: pd.DataFrame) -> pd.DataFrame:
    """Every replica's final row with ``train_metric_init`` (its training metric at step
    0) and ``test_metric_best`` (its lowest held-out metric at a recorded step before it
    diverged: the early-stopped value). ``history`` holds every recorded step."""
    key = list(REPLICA_KEY)
    init = history.loc[history["step"] == 0, [*key, "train_metric"]]
    best = history[~history["diverged"]].groupby(key, sort=False)["test_metric"].min()
    return (
        final_rows(history)
        .merge(init.rename(columns={"train_metric": "train_metric_init"}), on=key, how="left")
        .merge(best.rename("test_metric_best").reset_index(), on=key, how="left")
    )


def read_outcomes(paths: Iterable[str | Path]) -> pd.DataFrame:
    """:func:`outcomes` of every replica in the per-job tables, one file at a time."""
    frames = [outcomes(history) for history in iter_histories(paths, FINAL_COLUMNS)]
    if not frames:
        raise ValueError("no training results to read")
    return pd.concat(frames, ignore_index=True)


def read_final(paths: Iterable[str | Path], columns: Iterable[str] = FINAL_COLUMNS) -> pd.DataFrame:
    """Every replica's final row from the per-job tables, reading only ``columns``.

    One file at a time, so that the whole grid's histories are never in memory at once;
    rows keep the files' order (``paths``) and, within a file, the order trained.
    """
    frames = [final_rows(history) for history in iter_histories(paths, columns)]
    if not frames:
        raise ValueError("no training results to read")
    return pd.concat(frames, ignore_index=True)


def iter_histories(
    paths: Iterable[str | Path], columns: Iterable[str] | None = None
) -> Iterator[pd.DataFrame]:
    """The per-job training tables one at a time (only ``columns`` where given), so that
    a stage reading whole histories holds one job's rows at once."""
    columns = None if columns is None else list(dict.fromkeys([*REPLICA_KEY, "step", *columns]))
    for path in paths:
        yield read_table(path, columns=columns)


def block_rows(frame: pd.DataFrame, block: Mapping[str, Any], **fixed: Any) -> pd.DataFrame:
    """The rows of ``frame`` that a config block trains: its tasks, optimizers,
    precisions, regularizations, compensations, alphas, weight decay (0 without
    regularization), batch size and steps. ``fixed`` pins an axis to one value (e.g.
    ``task="diabetes"``)."""
    keep = pd.Series(True, index=frame.index)
    for axis, key in AXES.items():
        keep &= frame[axis].isin([fixed[axis]] if axis in fixed else block[key])
    for key in REGIME:
        keep &= frame[key] == block[key]
    if "alpha" in frame.columns:
        keep &= frame["alpha"].astype(float).isin([float(a) for a in block["alphas"]])
    decay = np.where(frame["regularization"] == "none", 0.0, float(block["weight_decay"]))
    keep &= np.isclose(frame["weight_decay"].astype(float), decay, rtol=1e-12, atol=0.0)
    return frame[keep]
