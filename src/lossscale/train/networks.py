"""The size of every task's network: the Methods' table reports it beside the network.

Each task is built as a study builds it (``lossscale.tasks.make_task``) and its model
(one replica) counted, so the count is that of the network trained, not a formula.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import torch

from lossscale.models import build_model
from lossscale.tables import NETWORK_COLUMNS
from lossscale.tasks import make_task


def network_table(tasks: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per task (config order): its model's registered name, its number of
    trainable parameters per replica, and the shape of one example's input."""
    rows = []
    for name, settings in tasks.items():
        task = make_task(name, dict(settings), torch.float32, "cpu")
        model = build_model(task.model, [0], dtype=torch.float32)
        rows.append(
            {
                "task": name,
                "model": task.model.name,
                "parameters": sum(p[0].numel() for p in model.params),
                "input_shape": "x".join(map(str, task.x_train.shape[1:])),
                "n_train": len(task.y_train),
                "n_test": len(task.y_test),
            }
        )
    return pd.DataFrame(rows, columns=list(NETWORK_COLUMNS))
