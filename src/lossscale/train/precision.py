"""Floating-point precision of a training cell, and a per-replica gradient scaler.

``float64`` and ``float32`` train parameters and data in that type. ``bfloat16`` and
``float16`` keep float32 parameters and run the model's forward pass under
``torch.autocast`` in the low type (the loss is computed in float32 from the cast-back
output, as usual in mixed precision). ``float16_scaled`` adds loss scaling in the manner
of ``torch.amp.GradScaler``, but with one scale per replica (:class:`StackedGradScaler`):
a shared scale would let one replica's overflow skip every replica's step.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Precision:
    """Parameter dtype, autocast dtype (None: no autocast) and whether grads are scaled."""

    name: str
    dtype: torch.dtype
    autocast: torch.dtype | None = None
    scaled: bool = False

    def context(self, device: torch.device) -> AbstractContextManager:
        """The autocast context of the forward pass (a no-op for plain precisions)."""
        if self.autocast is None:
            return nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.autocast)


PRECISIONS = {
    p.name: p
    for p in (
        Precision("float64", torch.float64),
        Precision("float32", torch.float32),
        Precision("bfloat16", torch.float32, torch.bfloat16),
        Precision("float16", torch.float32, torch.float16),
        Precision("float16_scaled", torch.float32, torch.float16, scaled=True),
    )
}


def precision(name: str) -> Precision:
    """The precision called ``name``; an unknown name is an error naming the allowed ones."""
    if name not in PRECISIONS:
        allowed = ", ".join(PRECISIONS)
        raise ValueError(f"precision: value {name!r} is not allowed; allowed: {allowed}")
    return PRECISIONS[name]


class StackedGradScaler:
    """``torch.amp.GradScaler``'s dynamic loss scaling, one scale per replica.

    Replica r's loss is multiplied by ``scale[r]``; :meth:`unscale_` divides its
    gradients by it and reports which replicas have non-finite gradients; those skip
    the optimizer step and halve their scale (:meth:`update`), the others grow theirs by
    ``growth_factor`` after ``growth_interval`` consecutive finite steps. Defaults are
    GradScaler's.
    """

    def __init__(
        self,
        replicas: int,
        device: torch.device | str = "cpu",
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
    ) -> None:
        self.scale = torch.full((replicas,), init_scale, dtype=torch.float32, device=device)
        self.tracker = torch.zeros(replicas, dtype=torch.int64, device=device)
        self.growth_factor, self.backoff_factor = growth_factor, backoff_factor
        self.growth_interval = growth_interval

    def unscale_(self, params: list[torch.Tensor]) -> torch.Tensor:
        """Divide each replica's gradients by its scale; return the non-finite mask ``[R]``."""
        found_inf = torch.zeros_like(self.tracker, dtype=torch.bool)
        inverse = self.scale.double().reciprocal().float()
        for p in params:
            view = (-1,) + (1,) * (p.dim() - 1)
            p.grad.mul_(inverse.view(view).to(p.grad.dtype))
            found_inf |= ~torch.isfinite(p.grad).reshape(p.shape[0], -1).all(dim=1)
        return found_inf

    def update(self, found_inf: torch.Tensor) -> None:
        """Back off where gradients overflowed, grow after enough finite steps."""
        self.tracker = torch.where(found_inf, 0, self.tracker + 1)
        grow = self.tracker >= self.growth_interval
        factor = torch.where(found_inf, self.backoff_factor, 1.0)
        factor = torch.where(grow, self.growth_factor, factor)
        self.scale = self.scale * factor.float()
        self.tracker = torch.where(grow, 0, self.tracker)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"scale": self.scale.clone(), "tracker": self.tracker.clone()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.scale = state["scale"].to(self.scale.device).clone()
        self.tracker = state["tracker"].to(self.tracker.device).clone()
