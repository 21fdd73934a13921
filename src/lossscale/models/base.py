"""What the engine and the optimizers need from a stacked model, and the model registry.

A task names its model as a :class:`ModelSpec` (a registered builder's name and its
arguments); :func:`build_model` builds it for R replicas. A stacked model is a
:class:`Stack` of parameters (replicas along dimension 0) that can be applied to inputs.
The stack also says what optimizers that read tensor shapes need (Muon, Adafactor):
how a lone ``nn.Module`` holds each replica slice, and which parameters are hidden
weight matrices.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from lossscale.imports import load


@dataclass(frozen=True)
class ModelSpec:
    """A task's model: the registered builder ``name`` and its keyword ``args``."""

    name: str
    args: Mapping[str, Any] = field(default_factory=dict)


class Stack:
    """``params``, each holding ``replicas`` independent slices along dimension 0.

    A plain stack holds each slice as it is and has no hidden weight matrices; models
    override :meth:`lone_view` and :meth:`hidden_matrices`.
    """

    def __init__(self, params: Sequence[Tensor], replicas: int) -> None:
        self.params = list(params)
        self.replicas = int(replicas)

    def lone_view(self, index: int, t: Tensor) -> Tensor:
        """Parameter ``index``'s replica slice ``t`` as a lone ``nn.Module`` holds it (a
        view, so that writing to it writes to the stack)."""
        return t

    def lone_views(self) -> list[Callable[[Tensor], Tensor]]:
        """:meth:`lone_view` of each parameter, in order."""
        return [lambda t, i=i: self.lone_view(i, t) for i in range(len(self.params))]

    def hidden_matrices(self) -> list[int]:
        """Indices of the parameters that are hidden layers' weight matrices (Muon's)."""
        return []


class StackedModel(Stack):
    """A stack of parameters with a function: ``apply(params, x)`` gives ``[R, N, ...]``."""

    def apply(self, params: Sequence[Tensor], x: Tensor) -> Tensor:
        """This model's function at stacked ``params`` (this model's shapes, any R)."""
        raise NotImplementedError

    def lone_module(self, r: int) -> torch.nn.Module:
        """Replica ``r`` as a lone ``nn.Module`` computing what the stack computes for it."""
        raise NotImplementedError

    def layers(self) -> list[list[int]]:
        """Indices of each layer's parameters, from the input to the output layer."""
        return [[i] for i in range(len(self.params))]

    def __call__(self, x: Tensor) -> Tensor:
        return self.apply(self.params, x)


#: Stacked models by name, as ``"module:Class"`` (loaded when built); a class is called
#: as ``Class(seeds=..., dtype=..., device=..., **spec.args)``.
MODELS: dict[str, str] = {
    "mlp": "lossscale.models.stacked_mlp:StackedMLP",
    "cnn": "lossscale.models.cnn:StackedCNN",
    "transformer": "lossscale.models.transformer:StackedTransformer",
}


def build_model(
    spec: ModelSpec,
    seeds: Sequence[int],
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> StackedModel:
    """Model ``spec`` with one replica per entry of ``seeds`` (its initialization seed)."""
    if spec.name not in MODELS:
        allowed = ", ".join(sorted(MODELS))
        raise ValueError(f"model: value {spec.name!r} is not allowed; allowed: {allowed}")
    return load(MODELS[spec.name])(seeds=seeds, dtype=dtype, device=device, **spec.args)
