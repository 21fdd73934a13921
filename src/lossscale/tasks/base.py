"""The data and model a training cell needs, in one immutable record."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lossscale.models import ModelSpec
from lossscale.tasks.losses import LOSSES, error_rate


@dataclass(frozen=True)
class Task:
    """A task: data, the model to train on it, the loss and the reported metric.

    ``model`` names a registered stacked model and its arguments (``lossscale.models``;
    the MLP's ``output_scale`` puts predictions on the targets' scale from
    initialization on). The metric is the normalised MSE (MSE divided by
    ``metric_scale``, the target variance) for regression and the error rate for
    classification.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    model: ModelSpec
    metric_scale: float
    objective: str
    #: the parameters' type where the inputs are not real numbers (token ids)
    param_dtype: torch.dtype | None = None

    def __post_init__(self) -> None:
        if self.objective not in LOSSES:
            raise ValueError(f"objective {self.objective!r} not in {sorted(LOSSES)}")

    @property
    def dtype(self) -> torch.dtype:
        """The type of the model's parameters and losses: the inputs' unless set."""
        return self.param_dtype or self.x_train.dtype

    @property
    def classification(self) -> bool:
        return self.objective != "mse"

    def loss(self, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The training objective per replica (not multiplied by alpha)."""
        return LOSSES[self.objective](pred, y)

    def metric(self, pred: torch.Tensor, y: torch.Tensor, loss: torch.Tensor) -> torch.Tensor:
        """The reported metric per replica; ``loss`` is ``self.loss(pred, y)``."""
        return error_rate(pred, y) if self.classification else loss / self.metric_scale
