"""One real ``torch.optim`` instance per replica, for optimizers that cannot be stacked.

LBFGS (its history and line search couple all entries), Adafactor (factored row and
column statistics) and Muon (Newton-Schulz orthogonalization of each weight matrix)
update a parameter from more than its own entries, so a stack cannot run them
element-wise. :class:`PerReplicaOptimizer` keeps, for each replica r, leaf tensors
holding the slices ``p[r]`` and one optimizer over them; every step copies the stacked
values (and gradients) in, steps, and copies the results back into the stack. Each
replica is then exactly a lone run of the real class.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from lossscale.models import Stack
from lossscale.study import optimizers
from lossscale.train.stacked_optim.adaptive import StackedAdamW

#: Optimizers run one instance per replica, by the training stage's config names.
PER_REPLICA_CLASSES: dict[str, type[torch.optim.Optimizer]] = {
    name: optimizers.reference(name) for name in optimizers.names(kind="per_replica")
}
PER_REPLICA = frozenset(PER_REPLICA_CLASSES)

#: ``torch.optim`` keywords that are not hyperparameters of the study.
_NOT_HYPER = {"self", "params", "foreach", "fused", "differentiable", "capturable"}
#: AdamW's eps for the parameters :class:`MuonAdamW` does not give to Muon.
ADAMW_EPS = 1e-8


def hyperparameters(cls: type[torch.optim.Optimizer]) -> dict[str, Any]:
    """The hyperparameter keywords of ``cls`` and their defaults."""
    signature = inspect.signature(cls.__init__).parameters
    return {k: v.default for k, v in signature.items() if k not in _NOT_HYPER}


#: ``closure(r, params_r)``: evaluate replica r's loss at its leaf tensors ``params_r``
#: (gradients already reset), call ``backward()`` on it and return it.
ReplicaClosure = Callable[[int, list[Tensor]], Tensor]


def _identity(t: Tensor) -> Tensor:
    return t


def _replica_value(key: str, value: Any, r: int, replicas: int) -> Any:
    """Replica r's entry of ``value``: scalars as given, sequences of R entries at ``[r]``."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Tensor) and value.ndim == 0:
        return value.item()
    if isinstance(value, Tensor | Sequence | np.ndarray) and len(value) == replicas:
        entry = value[r]
        return entry.item() if isinstance(entry, Tensor | np.generic) else entry
    raise ValueError(
        f"{key}: value {value!r} is not allowed; allowed: a scalar, or {replicas} values, "
        "one per replica"
    )


class PerReplicaOptimizer:
    """Run ``optimizer`` (a name in :data:`PER_REPLICA` or a ``torch.optim`` class) once per
    replica of the stacked ``params``, with replica r's hyperparameters.

    ``hyper`` uses the class's keywords; each value is a scalar (all replicas) or R values,
    and tuple-valued keywords (``betas``, ``eps`` of Adafactor, ``ns_coefficients``) take
    a tuple whose entries are each a scalar or R values.

    :meth:`step` without a closure copies ``p.grad[r]`` into replica r's leaves and takes
    one step. LBFGS re-evaluates the loss, so it needs ``step(closure)`` where
    ``closure(r, params_r)`` computes replica r's loss at the leaf tensors ``params_r``
    (shapes without the replica dimension; their gradients are reset before each call),
    calls ``backward()`` and returns the loss; ``step`` then returns the R losses that
    the optimizers returned (NaN for frozen replicas). ``frozen`` replicas are skipped.

    Muon accepts 2-D slices only (stacked ``[R, m, n]``): any other parameter raises
    ``ValueError``; a model names its weight matrices (``Stack.hidden_matrices``). With
    ``views`` (one per parameter, e.g. a model's ``Stack.lone_views()``), each replica's
    leaves hold ``views[i](p[r])`` instead of the slice as stacked: the layout of a lone
    ``nn.Module`` (the stacked MLP keeps weights ``[fan_in, fan_out]`` and biases
    ``[1, fan_out]``, ``nn.Linear`` ``[fan_out, fan_in]`` and ``[fan_out]``). Adafactor
    factors 2-D tensors only and Muon's learning-rate adjustment depends on which side is
    longer, so the layout matters.
    """

    def __init__(
        self,
        optimizer: str | type[torch.optim.Optimizer],
        params: Iterable[Tensor],
        replicas: int,
        views: Sequence[Callable[[Tensor], Tensor]] | None = None,
        **hyper: Any,
    ) -> None:
        if isinstance(optimizer, str):
            if optimizer not in PER_REPLICA_CLASSES:
                allowed = ", ".join(sorted(PER_REPLICA_CLASSES))
                raise ValueError(
                    f"optimizer: value {optimizer!r} is not allowed; allowed: {allowed}"
                )
            optimizer = PER_REPLICA_CLASSES[optimizer]
        self.cls = optimizer
        self.params = list(params)
        self.replicas = int(replicas)
        self.views = list(views) if views is not None else [_identity] * len(self.params)
        if len(self.views) != len(self.params):
            raise ValueError(f"views: {len(self.views)} entries; allowed: {len(self.params)}")
        for i, p in enumerate(self.params):
            if p.ndim < 1 or p.shape[0] != self.replicas:
                raise ValueError(
                    f"params[{i}]: shape {tuple(p.shape)} is not allowed; allowed: "
                    f"[{self.replicas}, ...] (replicas along dimension 0)"
                )
            if optimizer is torch.optim.Muon and (p.ndim != 3 or min(p.shape[1:]) == 1):
                raise ValueError(
                    f"params[{i}]: Muon updates 2-D weight matrices only, but its replica "
                    f"slices have shape {tuple(p.shape[1:])}; give such parameters to an "
                    "element-wise optimizer (a model's hidden_matrices names the matrices)"
                )
        allowed = hyperparameters(optimizer)
        for key in hyper:
            if key not in allowed:
                raise ValueError(
                    f"{key}: not a hyperparameter of {optimizer.__name__}; allowed: "
                    f"{', '.join(sorted(allowed))}"
                )
        self.leaves = [
            [view(p[r]).detach().clone().requires_grad_(True) for view, p in self._pairs()]
            for r in range(self.replicas)
        ]
        self.optimizers = []
        for r, leaves in enumerate(self.leaves):
            kwargs = {}
            for key, value in hyper.items():
                if isinstance(allowed[key], tuple):
                    if not isinstance(value, tuple | list) or len(value) != len(allowed[key]):
                        raise ValueError(
                            f"{key}: value {value!r} is not allowed; allowed: a tuple of "
                            f"{len(allowed[key])} entries, each a scalar or R values"
                        )
                    kwargs[key] = tuple(_replica_value(key, v, r, self.replicas) for v in value)
                else:
                    kwargs[key] = _replica_value(key, value, r, self.replicas)
            try:
                self.optimizers.append(optimizer(leaves, **kwargs))
            except ValueError as err:
                raise ValueError(f"{optimizer.__name__}, replica {r}: {err}") from err

    def _pairs(self) -> list[tuple[Callable[[Tensor], Tensor], Tensor]]:
        """Each parameter with the view its replicas' leaves hold."""
        return list(zip(self.views, self.params, strict=True))

    @torch.no_grad()
    def _pull(self, r: int, grads: bool) -> None:
        for leaf, (view, p) in zip(self.leaves[r], self._pairs(), strict=True):
            leaf.copy_(view(p[r]))
            if grads:
                if p.grad is None:
                    leaf.grad = None
                elif leaf.grad is None:
                    leaf.grad = view(p.grad[r]).clone()
                else:
                    leaf.grad.copy_(view(p.grad[r]))

    @torch.no_grad()
    def _push(self, r: int) -> None:
        for leaf, (view, p) in zip(self.leaves[r], self._pairs(), strict=True):
            view(p[r]).copy_(leaf)

    def step(
        self,
        closure: ReplicaClosure | None = None,
        frozen: Tensor | Sequence[bool] | None = None,
    ) -> Tensor | None:
        """One step of every replica not ``frozen``; see the class docstring."""
        if closure is None and self.cls is torch.optim.LBFGS:
            raise ValueError("LBFGS re-evaluates the loss: call step(closure), see the docstring")
        skip = [False] * self.replicas if frozen is None else [bool(f) for f in frozen]
        if len(skip) != self.replicas:
            raise ValueError(f"frozen: {len(skip)} entries; allowed: {self.replicas}")
        losses = torch.full((self.replicas,), float("nan"), dtype=torch.float64)
        for r, opt in enumerate(self.optimizers):
            if skip[r]:
                continue
            self._pull(r, grads=closure is None)
            if closure is None:
                opt.step()
            else:
                leaves = self.leaves[r]

                def evaluate(r: int = r, leaves: list[Tensor] = leaves) -> Tensor:
                    for leaf in leaves:
                        leaf.grad = None
                    return closure(r, leaves)

                loss = opt.step(evaluate)
                if loss is not None:
                    losses[r] = float(torch.as_tensor(loss).detach())
            self._push(r)
        return losses if closure is not None else None

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the stacked gradients (and the replicas' leaf gradients)."""
        for p in self.params:
            if p.grad is not None:
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.detach_().zero_()
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=True)

    def state_dict(self) -> dict[str, Any]:
        """Copies of the R optimizers' state dicts (``torch.optim`` format)."""
        return {
            "optimizer": self.cls.__name__,
            "replicas": self.replicas,
            "per_replica": [copy.deepcopy(opt.state_dict()) for opt in self.optimizers],
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` (its hyperparameters replace the current ones)."""
        for key, expected in (("optimizer", self.cls.__name__), ("replicas", self.replicas)):
            if state_dict.get(key) != expected:
                raise ValueError(
                    f"state_dict: {key} {state_dict.get(key)!r} does not match {expected!r}"
                )
        for opt, sd in zip(self.optimizers, state_dict["per_replica"], strict=True):
            opt.load_state_dict(sd)


class MuonAdamW:
    """Muon for the model's hidden weight matrices, stacked AdamW for the rest, as torch's
    Muon documentation advises; AdamW takes Muon's ``lr`` and ``weight_decay`` per replica
    and its own ``adamw_eps`` (AdamW's default unless given). One ``step`` / ``zero_grad`` /
    ``state_dict`` for both. Muon sees each matrix as a lone ``nn.Module`` holds it (the
    model's :meth:`~lossscale.models.Stack.lone_view`).
    """

    def __init__(self, model: Stack, adamw_eps: Any = ADAMW_EPS, **hyper: Any) -> None:
        hidden = model.hidden_matrices()
        if not hidden:
            raise ValueError(
                "optimizer: value 'muon' is not allowed for a model without hidden weight "
                "matrices (Muon orthogonalizes 2-D weights); allowed: a model with a hidden layer"
            )
        views = model.lone_views()
        matrices = [model.params[i] for i in hidden]
        rest = [p for i, p in enumerate(model.params) if i not in hidden]
        self.muon = PerReplicaOptimizer(
            "muon", matrices, model.replicas, views=[views[i] for i in hidden], **hyper
        )
        defaults = hyperparameters(torch.optim.Muon)
        shared = {k: hyper.get(k, defaults[k]) for k in ("lr", "weight_decay")}
        self.adamw = StackedAdamW(rest, model.replicas, eps=adamw_eps, **shared)

    def step(self, frozen: Tensor | None = None) -> None:
        self.muon.step(frozen=frozen)
        self.adamw.step(frozen=frozen)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.muon.zero_grad(set_to_none)
        self.adamw.zero_grad(set_to_none)

    def state_dict(self) -> dict[str, Any]:
        return {"muon": self.muon.state_dict(), "adamw": self.adamw.state_dict()}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        self.muon.load_state_dict(state_dict["muon"])
        self.adamw.load_state_dict(state_dict["adamw"])


__all__ = [
    "PER_REPLICA",
    "PER_REPLICA_CLASSES",
    "MuonAdamW",
    "PerReplicaOptimizer",
]
