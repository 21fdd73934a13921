"""A small convolutional network for 8x8 images, stacked.

Two 3x3 convolutions (padding 1, ReLU), 2x2 average pooling and a linear head: the
parameters of ``nn.Conv2d`` and ``nn.Linear`` with their default initialization.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from lossscale.models.functional import StackedModule


class SmallCNN(nn.Module):
    """``[N, 1, side, side]`` images to ``[N, classes]`` logits."""

    def __init__(self, channels: Sequence[int], classes: int, side: int) -> None:
        super().__init__()
        first, second = channels
        self.conv1 = nn.Conv2d(1, first, 3, padding=1)
        self.conv2 = nn.Conv2d(first, second, 3, padding=1)
        self.head = nn.Linear(second * (side // 2) ** 2, classes)

    def forward(self, x: Tensor) -> Tensor:
        h = torch.relu(self.conv1(x))
        h = torch.relu(self.conv2(h))
        h = nn.functional.avg_pool2d(h, 2)
        return self.head(h.flatten(-3))


class StackedCNN(StackedModule):
    """R replicas of :class:`SmallCNN` (arguments ``channels``, ``classes``, ``side``)."""

    module = SmallCNN
    example_dims = 3
    sequential_on_cpu = True
    not_hidden = ("head",)
