"""Models whose parameters carry a leading replica dimension."""

from lossscale.models.stacked_mlp import ACTIVATIONS, StackedMLP, activation_fn, forward, init_mlp

__all__ = ["ACTIVATIONS", "StackedMLP", "activation_fn", "forward", "init_mlp"]
