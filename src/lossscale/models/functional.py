"""Any ``nn.Module`` as a stacked model: R replicas' parameters along dimension 0,
evaluated with ``torch.func.vmap`` over ``torch.func.functional_call``.

Replica r is the module built under ``torch.manual_seed(seeds[r])`` (the global
generator's state is restored afterwards), cast to the study's dtype; its parameters are
slices ``[r]`` of the stacked tensors, in the module's layout, so a lone replica is the
module itself (:meth:`StackedModule.lone_module`). This is PyTorch's model-ensembling
recipe; the engine trains the stacked tensors with the stacked optimizers. Models whose
``vmap`` is slower than a loop on a CPU (convolutions) run their replicas one after
another there, still as one stack for the optimizer.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from lossscale.models.base import StackedModel


def seeded(module: type[nn.Module], seed: int, **args) -> nn.Module:
    """``module(**args)`` initialized from ``seed``, leaving the global generator as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return module(**args)


class StackedModule(StackedModel):
    """R replicas of ``module(**args)`` (subclasses set :attr:`module`).

    ``example_dims`` is the number of dimensions of one input example (3 for an image,
    1 for a token sequence), so that ``apply`` tells shared inputs ``[N, ...]`` from
    per-replica minibatches ``[R, N, ...]``. The module must have no buffers.
    """

    module: type[nn.Module]
    example_dims: int = 1
    #: run the replicas one after another on a CPU (faster than vmap for convolutions,
    #: which vmap turns into grouped convolutions; measured by the benchmark)
    sequential_on_cpu: bool = False
    #: parameter name prefixes that are not hidden layers (input embedding, output head)
    not_hidden: tuple[str, ...] = ()

    def __init__(
        self,
        seeds: Sequence[int],
        dtype: torch.dtype = torch.float64,
        device: torch.device | str = "cpu",
        **args,
    ) -> None:
        per_seed = {s: seeded(self.module, s, **args) for s in sorted(set(seeds))}
        first = per_seed[seeds[0]]
        if list(first.buffers()):
            raise ValueError(f"{self.module.__name__}: modules with buffers cannot be stacked")
        self.names = [name for name, _ in first.named_parameters()]
        params = [
            torch.stack([dict(per_seed[s].named_parameters())[n].detach() for s in seeds])
            .to(device=device, dtype=dtype)
            .requires_grad_()
            for n in self.names
        ]
        super().__init__(params, len(seeds))
        self.base = copy.deepcopy(first).to("meta")
        self.args = args

    def _one(self, params: tuple[Tensor, ...], x: Tensor) -> Tensor:
        return functional_call(self.base, dict(zip(self.names, params, strict=True)), (x,))

    def apply(self, params: Sequence[Tensor], x: Tensor) -> Tensor:
        """Outputs ``[R, N, ...]``; ``x`` is shared ``[N, ...]`` or ``[R, N, ...]``.

        The replicas run one after another (each a ``functional_call`` on its slices)
        under autocast, which does not reach through ``vmap`` (PyTorch 2.13 casts nothing
        inside it), and on a CPU where :attr:`sequential_on_cpu` says so; else in one
        ``vmap``.
        """
        shared = x.dim() == self.example_dims + 1
        cpu = self.sequential_on_cpu and x.device.type == "cpu"
        if cpu or torch.is_autocast_enabled(x.device.type):
            return torch.stack(
                [self._one(tuple(p[r] for p in params), x if shared else x[r])
                 for r in range(params[0].shape[0])]
            )  # fmt: skip
        return vmap(self._one, in_dims=(0, None if shared else 0))(tuple(params), x)

    def lone_module(self, r: int) -> nn.Module:
        module = self.module(**self.args).to(self.params[0].device, self.params[0].dtype)
        with torch.no_grad():
            for name, p in zip(self.names, self.params, strict=True):
                module.get_parameter(name).copy_(p[r])
        return module

    def hidden_matrices(self) -> list[int]:
        """The 2-D weights of the hidden ``nn.Linear`` layers (not the input embedding or
        the output head: subclasses name those in :attr:`not_hidden`)."""
        return [
            i
            for i, (name, p) in enumerate(zip(self.names, self.params, strict=True))
            if p.ndim == 3 and name.endswith("weight") and not name.startswith(self.not_hidden)
        ]

    def layers(self) -> list[list[int]]:
        """Parameters grouped by the module that holds them, in order."""
        groups: dict[str, list[int]] = {}
        for i, name in enumerate(self.names):
            groups.setdefault(name.rpartition(".")[0], []).append(i)
        return list(groups.values())
