"""The stacked-optimizer base class and its per-replica hyperparameter checks.

A stacked optimizer updates R replicas held along dimension 0 of every parameter
(``[R, fan_in, fan_out]``, ``[R, 1, fan_out]``). Each hyperparameter is either one float
for every replica or R floats, one per replica. Internally a value is a Python float when
all replicas share it (the update then calls the very kernels the ``torch.optim``
single-tensor functions call, with the same scalars) or a float64 NumPy array of R
entries; per-step coefficients (bias corrections, step sizes) are computed from those
with the scalar formulas of ``torch.optim`` (powers replica by replica with Python's
``**``), then handed to the kernels either as floats or as one ``[R, 1, ...]`` tensor
view per parameter (:data:`Coef`). The kernels run over all parameters at once
(``torch._foreach_*``), so a step costs a fixed number of calls, whatever R.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from lossscale.study import optimizers
from lossscale.study.spec import Flag, Pairs, Spec
from lossscale.train.stacked_optim.coefficients import Value, collapse
from lossscale.train.stacked_optim.kernels import Coef, add_scaled, scale_


def _flat_values(label: str, value: Any, replicas: int) -> np.ndarray:
    """``value`` (a float, R floats or a tensor of R entries) as a 1-D float64 array."""
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"{label}: value {value!r} is not allowed; allowed: a float")
    if isinstance(value, Tensor):
        value = value.detach().to("cpu", torch.float64).numpy()
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"{label}: value {value!r} is not allowed; allowed: a float or {replicas} floats"
        ) from None
    arr = arr.reshape(1) if arr.ndim == 0 else arr
    if arr.ndim != 1 or arr.size not in (1, replicas):
        raise ValueError(
            f"{label}: value of shape {tuple(arr.shape)} is not allowed; allowed: a float or "
            f"{replicas} floats, one per replica"
        )
    return arr


def _flag_values(label: str, value: Any, flag: Flag, replicas: int) -> bool | np.ndarray:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    allowed = "a bool, or one bool per replica" if flag.per_replica else "a bool"
    if isinstance(value, Tensor):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value) if flag.per_replica and not isinstance(value, str) else None
    if arr is None or arr.dtype != np.bool_ or arr.ndim != 1 or arr.size not in (1, replicas):
        raise ValueError(f"{label}: value {value!r} is not allowed; allowed: {allowed}")
    return bool(arr[0]) if bool(np.all(arr == arr[0])) else arr.copy()


def _plain(value: Value | bool | np.ndarray) -> float | bool | list:
    """A hyperparameter as plain Python data (floats, bools, lists) for state dicts."""
    return value.tolist() if isinstance(value, np.ndarray) else value


class StackedOptimizer:
    """Element-wise optimizer for R stacked replicas with per-replica hyperparameters.

    ``params`` are tensors of shape ``[R, ...]``; ``hyper`` holds the ``torch.optim`` keyword
    arguments of the optimizer, each a float (all replicas) or a sequence / 1-D tensor of
    R floats. Pairs (``betas``, ``etas``, ``step_sizes``) take two such entries.

    :meth:`step` reads ``p.grad`` (every parameter needs one) and updates parameters and
    state in place; ``step(frozen=mask)`` leaves replicas with ``mask[r]`` true unchanged,
    parameters and per-element state alike. The step counter and the scalars derived from
    it alone (NAdam's ``mu_product``, ASGD's ``eta`` and ``mu``) are shared by the stack
    and advance for frozen replicas too; frozen replicas are meant to stay frozen (the
    engine freezes diverged ones), and one unfrozen later resumes with the stack's count.

    Subclasses set ``name``; a registered name (:mod:`lossscale.study.optimizers`) gives
    the class its entry's ``spec`` (flat hyperparameter names, ``torch.optim`` defaults and
    bounds), ``pairs`` (tuple-valued keywords split into flat names) and how its weight
    decay acts. Subclasses implement :meth:`_init_state` and :meth:`_update`;
    :meth:`_constants` precomputes coefficients that depend on the hyperparameters only.
    """

    name: ClassVar[str] = ""
    spec: ClassVar[Spec] = {}
    pairs: ClassVar[Pairs] = {}
    #: how ``weight_decay`` acts when the spec has no ``decoupled_weight_decay`` flag
    decoupled: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        entry = optimizers.OPTIMIZERS.get(cls.__dict__.get("name", ""))
        if entry is not None:
            cls.spec, cls.pairs = dict(entry.spec), dict(entry.pairs)
            cls.decoupled = entry.decay == "decoupled"

    def __init__(self, params: Iterable[Tensor], replicas: int, **hyper: Any) -> None:
        self.params = list(params)
        self.replicas = int(replicas)
        self._check_params()
        self._ndims = sorted({p.ndim for p in self.params})
        self.scalar_dtype = (
            torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
        )
        self.step_count = 0
        self.state: dict[str, list[Tensor]] = {}
        self.shared: dict[str, Tensor] = {}
        defaults = {k: s.default for k, s in self.spec.items()}
        self._set_hyper(self._normalize(self._split_pairs(hyper), defaults))

    # -- hyperparameters -------------------------------------------------------------

    def _check_params(self) -> None:
        if self.replicas < 1:
            raise ValueError(f"replicas: value {self.replicas!r} is not allowed; allowed: >= 1")
        if not self.params:
            raise ValueError("params: an empty list is not allowed; allowed: stacked tensors")
        first = self.params[0]
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor) or not p.is_floating_point():
                raise ValueError(f"params[{i}]: not a floating-point tensor")
            if p.ndim < 1 or p.shape[0] != self.replicas:
                raise ValueError(
                    f"params[{i}]: shape {tuple(p.shape)} is not allowed; allowed: "
                    f"[{self.replicas}, ...] (replicas along dimension 0)"
                )
            if p.dtype != first.dtype or p.device != first.device:
                raise ValueError(f"params[{i}]: dtype and device must match params[0]'s")
        self.dtype, self.device = first.dtype, first.device

    def _label(self, key: str) -> str:
        for public, names in self.pairs.items():
            if key in names:
                return f"{public}[{names.index(key)}]"
        return key

    def _split_pairs(self, hyper: Mapping[str, Any]) -> dict[str, Any]:
        flat: dict[str, Any] = {}
        for key, value in hyper.items():
            if key in self.pairs:
                names = self.pairs[key]
                if not isinstance(value, tuple | list) or len(value) != len(names):
                    raise ValueError(
                        f"{key}: value {value!r} is not allowed; allowed: a pair "
                        f"({', '.join(names)}), each a float or one float per replica"
                    )
                flat.update(zip(names, value, strict=True))
            elif key in self.spec and not any(key in n for n in self.pairs.values()):
                flat[key] = value
            else:
                allowed = sorted(
                    [k for k in self.spec if not any(k in n for n in self.pairs.values())]
                    + list(self.pairs)
                )
                raise ValueError(
                    f"{key}: not a hyperparameter of {self.name}; allowed: {', '.join(allowed)}"
                )
        return flat

    def _normalize(self, flat: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
        """Validated values: ``flat`` (flat names) over ``base`` (already valid or defaults)."""
        out = dict(base)
        for key, value in flat.items():
            spec = self.spec.get(key)
            if spec is None:
                raise ValueError(f"{key}: not a hyperparameter of {self.name}")
            label = self._label(key)
            if isinstance(spec, Flag):
                out[key] = _flag_values(label, value, spec, self.replicas)
            else:
                arr = _flat_values(label, value, self.replicas)
                spec.check(label, arr)
                out[key] = collapse(arr)
        return out

    def _set_hyper(self, hyper: dict[str, Any]) -> None:
        self.hyper = hyper
        self.h = SimpleNamespace(**hyper)
        self._check()
        self.c = self.coefs(**self._constants())

    def set_hyper(self, **hyper: Any) -> None:
        """Change hyperparameters between steps (same keywords as the constructor)."""
        self._set_hyper(self._normalize(self._split_pairs(hyper), self.hyper))

    def _check(self) -> None:
        """Checks that involve several hyperparameters (override)."""

    def _constants(self) -> dict[str, Value]:
        """Coefficients that depend on the hyperparameters only (extend in subclasses).

        Weight decay is split into a coupled part (``grad + wd * param``) and the factor
        ``1 - lr * wd`` of the decoupled part, per replica, so that one stack may mix the
        two (``decoupled_weight_decay`` given per replica).
        """
        if "weight_decay" not in self.spec:
            return {}
        decoupled = np.asarray(getattr(self.h, "decoupled_weight_decay", self.decoupled))
        wd = self.h.weight_decay
        return {
            "wd_coupled": np.where(decoupled, 0.0, wd),
            "wd_factor": 1 - self.h.lr * np.where(decoupled, wd, 0.0),
        }

    # -- coefficients ----------------------------------------------------------------

    def views(self, row: Tensor) -> list[Tensor]:
        """One view of the ``[R]`` tensor ``row`` per parameter, shaped ``[R, 1, ...]``."""
        by_ndim = {n: row.view(-1, *([1] * (n - 1))) for n in self._ndims}
        return [by_ndim[p.ndim] for p in self.params]

    def coefs(self, **values: Value) -> SimpleNamespace:
        """Coefficients for the kernels: floats stay floats, arrays become views.

        All arrays are converted to the parameters' dtype and device in one transfer.
        """
        out: dict[str, Coef] = {}
        arrays: dict[str, np.ndarray] = {}
        for key, value in values.items():
            value = collapse(value)
            if isinstance(value, float):
                out[key] = value
            else:
                arrays[key] = value
        if arrays:
            rows = torch.from_numpy(np.stack(list(arrays.values()))).to(self.device, self.dtype)
            for key, row in zip(arrays, rows, strict=True):
                out[key] = self.views(row)
        return SimpleNamespace(**out)

    def round_scalar(self, x: Value) -> Value:
        """``x`` rounded to the dtype ``torch.optim`` keeps its scalar state tensors in.

        That dtype is float32 unless the default dtype was float64 when the optimizer was
        made (``torch.optim.optimizer._get_scalar_dtype``).
        """
        if self.scalar_dtype == torch.float64:
            return x
        return collapse(np.asarray(x, dtype=np.float64).astype(np.float32).astype(np.float64))

    def mask_views(self, mask: np.ndarray) -> list[Tensor]:
        """A per-replica boolean array as one ``[R, 1, ...]`` view per parameter."""
        return self.views(torch.from_numpy(np.asarray(mask, dtype=np.bool_)).to(self.device))

    # -- state -----------------------------------------------------------------------

    def zeros(self) -> list[Tensor]:
        """One zero tensor per parameter."""
        return [torch.zeros_like(p) for p in self.params]

    def full(self, value: Value) -> list[Tensor]:
        """One tensor per parameter, replica r filled with ``value`` (or ``value[r]``)."""
        coef = self.coefs(value=value).value
        if isinstance(coef, float):
            return [torch.full_like(p, coef) for p in self.params]
        return [
            v.expand_as(p).clone(memory_format=torch.contiguous_format)
            for v, p in zip(coef, self.params, strict=True)
        ]

    def _init_state(self) -> dict[str, list[Tensor]]:
        """Per-parameter state, created before the first update (override)."""
        return {}

    def _init_shared(self) -> dict[str, Tensor]:
        """Per-replica scalar state: ``[R]`` CPU tensors of the scalar dtype (override)."""
        return {}

    def _replica_tensors(self) -> list[Tensor]:
        return self.params + [t for ts in self.state.values() for t in ts]

    # -- the optimizer API -----------------------------------------------------------

    def _update(self, params: list[Tensor], grads: list[Tensor], step: int) -> None:
        """Update ``params`` and the state in place for step number ``step`` (from 1)."""
        raise NotImplementedError

    def _frozen_index(self, frozen: Tensor | Sequence[bool] | None) -> Tensor | None:
        if frozen is None:
            return None
        mask = torch.as_tensor(frozen, device=self.device)
        if mask.dtype != torch.bool or tuple(mask.shape) != (self.replicas,):
            raise ValueError(
                f"frozen: a {mask.dtype} tensor of shape {tuple(mask.shape)} is not allowed; "
                f"allowed: {self.replicas} bools, one per replica"
            )
        index = mask.nonzero().flatten()
        return index if index.numel() else None

    @torch.no_grad()
    def step(self, frozen: Tensor | Sequence[bool] | None = None) -> None:
        """One update of every replica from ``p.grad``, except the ``frozen`` ones."""
        grads = [p.grad for p in self.params]
        missing = [i for i, g in enumerate(grads) if g is None]
        if missing:
            raise RuntimeError(f"params{missing} have no gradient; every parameter needs one")
        if self.step_count == 0 and not self.state:
            self.state = self._init_state()
            self.shared = self._init_shared()
        index = self._frozen_index(frozen)
        saved = None
        if index is not None:
            saved = [t.index_select(0, index) for t in self._replica_tensors()]
        self.step_count += 1
        self._update(self.params, grads, self.step_count)  # type: ignore[arg-type]
        if saved is not None:
            for t, old in zip(self._replica_tensors(), saved, strict=True):
                t.index_copy_(0, index, old)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients, as ``torch.optim.Optimizer.zero_grad`` does."""
        grads = []
        for p in self.params:
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                if p.grad.grad_fn is not None:
                    p.grad.detach_()
                else:
                    p.grad.requires_grad_(False)
                grads.append(p.grad)
        if grads:
            torch._foreach_zero_(grads)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume bit for bit (tensors are copies).

        Holds only tensors, floats, ints, bools, strings, lists and dicts, so that
        ``torch.load(..., weights_only=True)`` reads it back.
        """
        return {
            "optimizer": self.name,
            "replicas": self.replicas,
            "step": self.step_count,
            "scalar_dtype": str(self.scalar_dtype).removeprefix("torch."),
            "hyper": {k: _plain(v) for k, v in self.hyper.items()},
            "state": {k: [t.clone() for t in ts] for k, ts in self.state.items()},
            "shared": {k: t.clone() for k, t in self.shared.items()},
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`; its hyperparameters replace the current ones.

        (As in ``torch.optim``.) Raises ``ValueError`` when it belongs to another
        optimizer, another number of replicas or other parameter shapes.
        """
        for key, expected in (("optimizer", self.name), ("replicas", self.replicas)):
            if state_dict.get(key) != expected:
                raise ValueError(
                    f"state_dict: {key} {state_dict.get(key)!r} does not match {expected!r}"
                )
        defaults = {k: s.default for k, s in self.spec.items()}
        hyper = self._normalize(state_dict["hyper"], defaults)
        old = self.hyper
        self._set_hyper(hyper)
        try:
            expected = set(self._init_state()) if state_dict["step"] else set()
            if set(state_dict["state"]) != expected:
                raise ValueError(
                    f"state_dict: state {sorted(state_dict['state'])} does not match "
                    f"{sorted(expected)} for these hyperparameters"
                )
            shapes = [tuple(p.shape) for p in self.params]
            for key, tensors in state_dict["state"].items():
                if [tuple(t.shape) for t in tensors] != shapes:
                    raise ValueError(f"state_dict: state {key!r} does not match the param shapes")
        except ValueError:
            self._set_hyper(old)
            raise
        self.scalar_dtype = getattr(torch, state_dict["scalar_dtype"])
        self.state = {
            k: [t.to(self.device, self.dtype, copy=True) for t in ts]
            for k, ts in state_dict["state"].items()
        }
        self.shared = {
            k: t.to("cpu", self.scalar_dtype, copy=True) for k, t in state_dict["shared"].items()
        }
        self.step_count = int(state_dict["step"])

    def __repr__(self) -> str:
        hyper = ", ".join(f"{k}={_plain(v)!r}" for k, v in self.hyper.items())
        return f"{type(self).__name__}(replicas={self.replicas}, {hyper})"

    # -- shared update pieces --------------------------------------------------------

    def decayed(self, params: list[Tensor], grads: list[Tensor]) -> list[Tensor]:
        """Apply weight decay: ``p *= 1 - lr * wd`` (decoupled; torch's AdamW, NAdam,
        RAdam, Lion) and return ``grad + wd * p`` (coupled; every other ``torch.optim``
        class), per replica. Gradients are never modified in place.
        """
        c = self.c
        if "wd_factor" in vars(c) and not (isinstance(c.wd_factor, float) and c.wd_factor == 1):
            scale_(params, c.wd_factor)
        if "wd_coupled" in vars(c) and not (isinstance(c.wd_coupled, float) and c.wd_coupled == 0):
            return add_scaled(grads, params, c.wd_coupled)
        return grads
