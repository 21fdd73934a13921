"""Models whose parameters carry a leading replica dimension."""

from lossscale.models.stacked_mlp import StackedMLP, init_mlp

__all__ = ["StackedMLP", "init_mlp"]
