"""Read the training grid's parquet files into one tidy frame."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd


def read_histories(paths: Iterable[str | Path], columns: list[str] | None = None) -> pd.DataFrame:
    """Concatenate the per-cell training tables, in the order given."""
    frames = [pd.read_parquet(p, columns=columns) for p in paths]
    if not frames:
        raise ValueError("no training results to read")
    return pd.concat(frames, ignore_index=True)
