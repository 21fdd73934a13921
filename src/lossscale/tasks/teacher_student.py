"""A synthetic teacher-student regression: a random tanh teacher labels Gaussian inputs."""

from __future__ import annotations

import math

import torch

from lossscale.models import mlp_spec
from lossscale.tasks.base import Task


def teacher_student_task(
    *,
    inputs: int,
    teacher_hidden: int,
    hidden: list[int],
    examples: int,
    test_fraction: float,
    noise: float,
    target_scale: float,
    data_seed: int,
    activation: str,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> Task:
    """Inputs x ~ N(0, I); targets = teacher(x) + noise, standardized, times target_scale.

    The teacher is a one-hidden-layer tanh network with N(0, 1/fan_in) weights drawn from
    ``data_seed``; the student's output is multiplied by ``target_scale`` as for diabetes.
    """
    gen = torch.Generator().manual_seed(data_seed)
    x = torch.randn(examples, inputs, generator=gen, dtype=torch.float64)
    w1 = torch.randn(inputs, teacher_hidden, generator=gen, dtype=torch.float64)
    w2 = torch.randn(teacher_hidden, generator=gen, dtype=torch.float64)
    y = torch.tanh(x @ w1 / math.sqrt(inputs)) @ w2 / math.sqrt(teacher_hidden)
    y = y + noise * torch.randn(examples, generator=gen, dtype=torch.float64)
    n_test = round(examples * test_fraction)
    y_train, y_test = y[n_test:], y[:n_test]
    mean, std = y_train.mean(), y_train.std(correction=0)

    def cast(t: torch.Tensor) -> torch.Tensor:
        return t.to(device=device, dtype=dtype)

    return Task(
        name="teacher_student",
        x_train=cast(x[n_test:]),
        y_train=cast((y_train - mean) / std * target_scale),
        x_test=cast(x[:n_test]),
        y_test=cast((y_test - mean) / std * target_scale),
        model=mlp_spec((inputs, *hidden, 1), activation, output_scale=target_scale),
        objective="mse",
        metric_scale=target_scale**2,
    )
