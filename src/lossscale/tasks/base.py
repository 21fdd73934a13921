"""The data a training cell needs, in one immutable record."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Task:
    """A full-batch regression task.

    ``output_scale`` multiplies the network's output so that predictions live on the
    targets' scale from initialization on; ``metric_scale`` divides the MSE into the
    reported metric (normalised MSE: 1 is the variance of the standardized target).
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    layer_sizes: tuple[int, ...]
    output_scale: float
    metric_scale: float
