"""scikit-learn's 8x8 digits: 10-class classification with cross-entropy or focal loss."""

from __future__ import annotations

import torch

from lossscale.models import ModelSpec, mlp_spec
from lossscale.tasks import packaged
from lossscale.tasks.base import Task


def digits_task(
    *,
    hidden: list[int],
    test_fraction: float,
    split_seed: int,
    objective: str,
    activation: str,
    model: str,
    channels: list[int],
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> Task:
    """Pixels standardized with the training split's statistics; stratified split.

    ``model`` is ``mlp`` (the 64 pixels as a vector, ``hidden`` and ``activation``) or
    ``cnn`` (8x8 images, two convolutions of ``channels`` and a linear head).

    ``objective`` is ``cross_entropy`` or ``focal`` (gamma = 2): focal loss reweights
    examples by their confidence, so it is not a scaling of cross-entropy (STUDY.md).
    """
    x, y = packaged.digits()
    train, test = packaged.split(len(y), test_fraction, split_seed, labels=y)
    x_tr, x_te, y_tr, y_te = x[train], x[test], y[train], y[test]
    mean, std = x_tr.mean(axis=0), x_tr.std(axis=0)
    std[std == 0] = 1.0  # constant border pixels

    def inputs(a):
        x = torch.as_tensor((a - mean) / std, dtype=torch.float64).to(device, dtype)
        return x.view(-1, 1, 8, 8) if model == "cnn" else x

    def labels(a):
        return torch.as_tensor(a, dtype=torch.long, device=device)

    return Task(
        name="digits" if objective == "cross_entropy" else f"digits_{objective}",
        x_train=inputs(x_tr),
        y_train=labels(y_tr),
        x_test=inputs(x_te),
        y_test=labels(y_te),
        metric_scale=1.0,
        model=(
            ModelSpec("cnn", {"channels": tuple(channels), "classes": 10, "side": 8})
            if model == "cnn"
            else mlp_spec((x.shape[1], *hidden, 10), activation)
        ),
        objective=objective,
    )
