"""lossscale: what multiplying a loss by a constant does to an optimizer, measured."""

__version__ = "0.1.0"
