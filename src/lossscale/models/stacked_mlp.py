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


#: Activations whose forward and backward the hand-written pass does in place (their
#: backward needs the output only): the activation, and its backward as an ``out=`` op.
_IN_PLACE: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], Callable]] = {
    "tanh": (torch.tanh_, torch.ops.aten.tanh_backward.grad_input),
    "relu": (
        torch.relu_,
        lambda g, h, grad_input: torch.ops.aten.threshold_backward.grad_input(
            g, h, 0, grad_input=grad_input
        ),
    ),
}


def _matmul(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """``h @ w (+ b)`` per replica, for ``h`` shared (``[N, d]``) or per replica; a product
    with one output column is a multiply-and-sum, since a batched matrix-vector product is
    several times slower on CPU."""
    if w.shape[-1] == 1 and h.dim() == 3:
        out = (h * w.mT).sum(dim=-1, keepdim=True)
        return out if b is None else out.add_(b)
    h = h if h.dim() == 3 else h.expand(w.shape[0], *h.shape)
    return torch.bmm(h, w) if b is None else torch.baddbmm(b, h, w)


class _Forward(torch.autograd.Function):
    """The stacked MLP's forward and backward pass written out, for activations in
    ``_IN_PLACE``: every hidden activation and its backward run in place on the layer's
    fresh output or gradient, so a step allocates one tensor per layer and direction where
    autograd allocates three or four (the step is bound by passes over memory)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, activation: str, *params: torch.Tensor) -> torch.Tensor:
        act = _IN_PLACE[activation][0]
        hidden, h = [], x
        for i in range(0, len(params), 2):
            h = _matmul(h, params[i], params[i + 1])
            if i < len(params) - 2:
                hidden.append(act(h))
        ctx.activation, ctx.n_params = activation, len(params)
        ctx.save_for_backward(x, *params, *hidden)
        return h

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, *saved = ctx.saved_tensors
        params, inputs = saved[: ctx.n_params], [x, *saved[ctx.n_params :]]
        backward = _IN_PLACE[ctx.activation][1]
        grads: list[torch.Tensor | None] = [None] * len(params)
        for i in range(len(params) - 2, -1, -2):
            h, w = inputs[i // 2], params[i]
            if i < len(params) - 2:  # through the activation, in place on a fresh gradient
                g = backward(g, inputs[i // 2 + 1], grad_input=g)
            grads[i + 1] = g.sum(dim=1, keepdim=True)
            if w.shape[-1] == 1 and h.dim() == 3:
                grads[i] = (h * g).sum(dim=1).unsqueeze(-1)
            else:
                grads[i] = torch.matmul(h.mT, g)  # a shared h broadcasts over replicas
            if i > 0 or ctx.needs_input_grad[0]:
                g = g * w.mT if w.shape[-1] == 1 else torch.bmm(g, w.mT)
        return (g if ctx.needs_input_grad[0] else None, None, *grads)


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
    ``baddbmm`` (bias fused; the shared ``x`` is broadcast, not copied), a last layer with
    one output a multiply-and-sum; for tanh and ReLU the forward and backward pass are
    written out (:class:`_Forward`). These change results by round-off only. Under
    autocast every layer is the reference ``matmul`` plus bias instead, so that the type
    of every operation stays what the precision study measures (the product in the low
    type, the bias added in float32, the one-output layer a low-type product).
    """
    act = activation_fn(activation)
    last = len(params) // 2 - 1
    if torch.is_autocast_enabled(x.device.type):
        h = x
        for layer in range(last + 1):
            h = torch.matmul(h, params[2 * layer]) + params[2 * layer + 1]
            h = act(h) if layer < last else h
    elif activation in _IN_PLACE:
        h = _Forward.apply(x, activation, *params)
    else:
        h = x
        for layer in range(last + 1):
            h = _matmul(h, params[2 * layer], params[2 * layer + 1])
            h = act(h) if layer < last else h
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
