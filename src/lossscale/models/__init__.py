"""Models whose parameters carry a leading replica dimension, by registered name."""

from lossscale.models.base import (
    MODELS,
    ModelSpec,
    Stack,
    StackedModel,
    build_model,
)
from lossscale.models.stacked_mlp import (
    ACTIVATIONS,
    MODULES,
    StackedMLP,
    activation_fn,
    forward,
    init_mlp,
    mlp_spec,
)

__all__ = [
    "ACTIVATIONS",
    "MODELS",
    "MODULES",
    "ModelSpec",
    "Stack",
    "StackedMLP",
    "StackedModel",
    "activation_fn",
    "build_model",
    "forward",
    "init_mlp",
    "mlp_spec",
]
