"""An MLP whose parameters hold R independent replicas along dimension 0.

Shape convention: weights ``[R, fan_in, fan_out]``, biases ``[R, 1, fan_out]``, shared
inputs ``[N, d]`` (or per-replica inputs ``[R, N, d]``, a minibatch each), outputs
``[R, N]`` (``[R, N, K]`` for K > 1 outputs). Replica r
computes what a one-replica model with the slices ``[r]`` computes, up to round-off:
the same as ``nn.Sequential`` of ``nn.Linear`` layers and the hidden activation.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional

from lossscale.models.base import ModelSpec, StackedModel

#: Hidden-layer activations by config name.
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "silu": functional.silu,
}


#: The ``nn.Module`` of each activation (a lone replica's layers).
MODULES: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU, "silu": nn.SiLU}


def activation_fn(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The activation called ``name``; an unknown name is an error naming the allowed ones."""
    if name not in ACTIVATIONS:
        allowed = ", ".join(sorted(ACTIVATIONS))
        raise ValueError(f"activation: value {name!r} is not allowed; allowed: {allowed}")
    return ACTIVATIONS[name]


def init_mlp(sizes: Sequence[int], seed: int) -> list[torch.Tensor]:
    """One replica's parameters (float64), PyTorch ``nn.Linear``'s default distribution.

    Every weight and bias of a layer with fan-in n is uniform on [-1/sqrt(n), 1/sqrt(n)],
    drawn from a generator seeded with ``seed``, so a seed fixes the initialization.
    """
    gen = torch.Generator().manual_seed(seed)
    params = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        bound = 1.0 / math.sqrt(fan_in)
        for shape in ((fan_in, fan_out), (1, fan_out)):
            u = torch.rand(shape, generator=gen, dtype=torch.float64)
            params.append((2 * u - 1) * bound)
    return params


#: Activations with an in-place variant that autograd accepts (their backward needs the
#: output only), applied to the fresh output of a layer's matmul.
_IN_PLACE: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "tanh": torch.tanh_,
    "relu": torch.relu_,
}


def forward(
    params: Sequence[torch.Tensor],
    x: torch.Tensor,
    activation: str = "tanh",
    output_scale: float = 1.0,
) -> torch.Tensor:
    """Outputs ``[R, N]`` (or ``[R, N, K]``) of the stacked MLP ``params`` on ``x [N, d]``
    (or ``[R, N, d]``).

    ``params`` alternates weights ``[R, fan_in, fan_out]`` and biases ``[R, 1, fan_out]``
    for any R (1 for one replica's tensors unsqueezed). Each layer is one batched
    ``baddbmm`` (bias fused; the shared ``x`` is broadcast, not copied), followed by the
    activation in place where autograd allows it; a last layer with one output is a
    multiply-and-sum, since a batched matrix-vector product (and its outer-product
    backward) is several times slower on CPU. These change results by round-off only.
    Under autocast every layer is the reference ``matmul`` plus bias instead, so that the
    type of every operation stays what the precision study measures (the product in the
    low type, the bias added in float32, the one-output layer a low-type product).
    """
    act = activation_fn(activation)
    last = len(params) // 2 - 1
    if torch.is_autocast_enabled(x.device.type):
        h = x
        for layer in range(last + 1):
            h = torch.matmul(h, params[2 * layer]) + params[2 * layer + 1]
            h = act(h) if layer < last else h
        return h.squeeze(-1) * output_scale
    act = _IN_PLACE.get(activation, act)
    h = x if x.dim() == 3 else x.expand(params[0].shape[0], *x.shape)
    for layer in range(last + 1):
        w, b = params[2 * layer], params[2 * layer + 1]
        if layer == last and layer > 0 and w.shape[-1] == 1:
            h = (h * w.mT).sum(dim=-1, keepdim=True) + b
        else:
            h = torch.baddbmm(b, h, w)
        if layer < last:
            h = act(h)
    h = h.squeeze(-1)
    return h if output_scale == 1.0 else h * output_scale


class StackedMLP(StackedModel):
    """R replicas of an MLP with hidden ``activation``, initialized from per-replica seeds.

    A lone replica is ``nn.Sequential`` of ``nn.Linear`` layers, whose weights are
    ``[fan_out, fan_in]`` and biases ``[fan_out]``: :meth:`lone_view` transposes and
    squeezes the stacked slices accordingly. The hidden weight matrices are every
    layer's weight but the output layer's (and none with a side of length 1).
    """

    def __init__(
        self,
        sizes: Sequence[int],
        seeds: Sequence[int],
        output_scale: float = 1.0,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str = "cpu",
        activation: str = "tanh",
    ) -> None:
        activation_fn(activation)
        per_seed = {s: init_mlp(sizes, s) for s in sorted(set(seeds))}
        n_tensors = 2 * (len(sizes) - 1)
        params = [
            torch.stack([per_seed[s][i] for s in seeds])
            .to(device=device, dtype=dtype)
            .requires_grad_()
            for i in range(n_tensors)
        ]
        super().__init__(params, len(seeds))
        self.output_scale = output_scale
        self.activation = activation

    def apply(self, params: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """Outputs ``[R, N]`` (``[R, N, K]``) at stacked ``params`` (any R), see :func:`forward`."""
        return forward(params, x, self.activation, self.output_scale)

    def lone_module(self, r: int) -> nn.Module:
        """Replica ``r`` as ``nn.Sequential`` of ``nn.Linear`` layers and activations
        (copies of its current parameters) times the output scale, outputs squeezed."""
        layers: list[nn.Module] = []
        for i in range(0, len(self.params), 2):
            w, b = self.params[i][r].detach(), self.params[i + 1][r].detach()
            linear = nn.Linear(*w.shape, dtype=w.dtype, device=w.device)
            with torch.no_grad():
                linear.weight.copy_(self.lone_view(i, w))
                linear.bias.copy_(self.lone_view(i + 1, b))
            layers += [linear, MODULES[self.activation]()]
        return _Scaled(nn.Sequential(*layers[:-1]), self.output_scale)

    def lone_view(self, index: int, t: torch.Tensor) -> torch.Tensor:
        return t.squeeze(0) if index % 2 else t.mT

    def hidden_matrices(self) -> list[int]:
        return [i for i in range(0, len(self.params) - 2, 2) if min(self.params[i].shape[1:]) > 1]

    def layers(self) -> list[list[int]]:
        return [[i, i + 1] for i in range(0, len(self.params), 2)]


class _Scaled(nn.Module):
    """``layers(x)`` with a last axis of length 1 squeezed, times ``scale``."""

    def __init__(self, layers: nn.Sequential, scale: float) -> None:
        super().__init__()
        self.layers, self.scale = layers, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x).squeeze(-1) * self.scale


def mlp_spec(sizes: Sequence[int], activation: str, output_scale: float = 1.0) -> ModelSpec:
    """A task's MLP: layer ``sizes`` (inputs, hidden widths, outputs) and activation."""
    return ModelSpec(
        "mlp", {"sizes": tuple(sizes), "activation": activation, "output_scale": output_scale}
    )
