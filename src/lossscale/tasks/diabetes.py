"""scikit-learn's diabetes regression in the asker's regime: a tiny MSE from the start
(or, with the output left unscaled, tiny targets that an O(1) output must learn to fit)."""

from __future__ import annotations

import numpy as np
import torch

from lossscale.models import mlp_spec
from lossscale.tasks import packaged
from lossscale.tasks.base import Task


def diabetes_task(
    *,
    target_scale: float,
    hidden: list[int],
    test_fraction: float,
    split_seed: int,
    activation: str,
    scale_output: bool,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> Task:
    """Standardized inputs; standardized targets times ``target_scale``.

    Inputs and targets are standardized with the training split's statistics. With
    ``scale_output`` the model's output is multiplied by ``target_scale`` too, so the
    loss is of order ``target_scale**2`` at initialization and its gradients are tiny
    (STUDY.md); without it only the targets are small and the loss starts at O(1).
    """
    x, y = packaged.diabetes()
    train, test = packaged.split(len(y), test_fraction, split_seed)
    x_tr, x_te, y_tr, y_te = x[train], x[test], y[train], y[test]
    x_mean, x_std = x_tr.mean(axis=0), x_tr.std(axis=0)
    y_mean, y_std = y_tr.mean(), y_tr.std()

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(a, dtype=torch.float64).to(device=device, dtype=dtype)

    return Task(
        name="diabetes",
        x_train=tensor((x_tr - x_mean) / x_std),
        y_train=tensor((y_tr - y_mean) / y_std * target_scale),
        x_test=tensor((x_te - x_mean) / x_std),
        y_test=tensor((y_te - y_mean) / y_std * target_scale),
        model=mlp_spec(
            (x.shape[1], *hidden, 1), activation, output_scale=target_scale if scale_output else 1.0
        ),
        objective="mse",
        metric_scale=target_scale**2,
    )
