"""Checkpoints of a training run: written atomically, used only by the same run.

A checkpoint carries a fingerprint of everything that determines the run (task, replicas,
optimizer, steps, precision, device); a checkpoint with another fingerprint is ignored, so
a changed config never resumes from a stale state.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from lossscale.io import atomic_path
from lossscale.provenance import content_hash

log = logging.getLogger(__name__)


def fingerprint(spec: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``spec``."""
    return content_hash(spec)


def save_checkpoint(path: str | Path, key: str, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors, lists, numbers) under fingerprint ``key``, atomically."""
    with atomic_path(path) as tmp:
        torch.save({"fingerprint": key, "state": state}, tmp)


def load_checkpoint(path: str | Path | None, key: str) -> dict[str, Any] | None:
    """The state saved at ``path`` under ``key``, or None (absent, or another run's)."""
    if path is None or not Path(path).exists():
        return None
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if saved.get("fingerprint") != key:
        log.warning("ignoring checkpoint %s: it belongs to another configuration", path)
        return None
    return saved["state"]
