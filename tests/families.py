"""The generic model families (vmap over functional_call) with tiny arguments and
inputs, shared by the model and engine tests."""

from __future__ import annotations

import torch

from lossscale.models import ModelSpec

FAMILIES = {
    "cnn": (
        ModelSpec("cnn", {"channels": (3, 4), "classes": 5, "side": 8}),
        lambda gen: torch.randn(7, 1, 8, 8, generator=gen, dtype=torch.float64),
    ),
    "transformer": (
        ModelSpec(
            "transformer",
            {"vocab": 6, "length": 3, "width": 8, "heads": 2, "blocks": 2, "classes": 5},
        ),
        lambda gen: torch.randint(0, 6, (7, 3), generator=gen),
    ),
}
