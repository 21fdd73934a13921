"""Result CSVs as JSON-ready rows for the paper's context, in the config's order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lossscale import io
from lossscale.io import read_csv
from lossscale.report.filters import is_missing
from lossscale.tables import CELL, CLAIM_COLUMNS

_INT_COLUMNS = (
    "n_seeds",
    "family_size",
    "n_pairs",
    "n_diverged",
    "n_exploded",
    "seed",
    "layer",
    "n_params",
    "batch_size",
    "steps",
    "parameters",
    "n_train",
    "n_test",
)
_BOOL_COLUMNS = (
    "power_of_two",
    "bitwise",
    "trains",
    "agrees",
    "update_first_agrees",
    "update_run_agrees",
    "output_scaled",
    "asker_pattern",
)
_NUMBERS = ("weight_decay", "alpha", "max_rel_deviation", "tolerance")
_TEXT_COLUMNS = frozenset(
    {*CELL, *CLAIM_COLUMNS, "quantity", "test", "verdict", "arm", "outcome", "boundary"}
    | {"other_task", "model", "input_shape"}
    | {"predicted_regime", "measured_regime"}
) - set(_NUMBERS)


def _clean(value: Any, column: str) -> Any:
    """A JSON-ready cell: None for a missing value ("" for an empty ``censored``), int
    counts, bools, str for text columns, float otherwise."""
    if column.endswith("censored"):
        return "" if is_missing(value) else str(value)
    if is_missing(value):
        return None
    if column in _INT_COLUMNS:
        return int(value)
    if column in _BOOL_COLUMNS:
        return value if isinstance(value, bool) else str(value).lower() == "true"
    if column in _TEXT_COLUMNS:
        return str(value)
    return float(value)


def read_table(path: str | Path, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Rows of a result CSV as dicts, checking that the expected columns are present."""
    df = read_csv(path, required=columns, keep_default_na=True)
    return [{c: _clean(row[c], c) for c in columns} for row in df.to_dict("records")]


def order(values: Sequence[str]) -> dict[str, int]:
    return {v: i for i, v in enumerate(values)}


def sort_key(row: Mapping[str, Any], orders: Mapping[str, dict[str, int]]) -> tuple:
    """Config order for the cell's axes (unknown values last), then weight decay, alpha
    and quantity."""
    key: list[Any] = []
    for col, order in orders.items():
        key += [order.get(row[col], len(order)), row[col]]
    return (*key, row.get("weight_decay") or 0.0, row["alpha"], row.get("quantity", ""))


def optional_table(
    inputs: Mapping[str, str | Path], name: str, columns: Sequence[str]
) -> list[dict[str, Any]]:
    """The rows of result file ``inputs[name]``, none where it is not given."""
    return read_table(inputs[name], columns) if inputs.get(name) else []


def read_json(path: str | Path | None) -> dict[str, Any]:
    """The mapping in the JSON file at ``path`` ({} without one)."""
    return {} if path is None else io.read_json(path, required=())
