"""Checkpoints of a training run: written atomically, used only by the same run.

A checkpoint carries the file format's version and a fingerprint of everything that
determines the run (task, replicas, optimizer, steps, precision, device, and the training
code's source); a checkpoint from another configuration or another version of the code is
ignored, so a run never resumes from a stale state. A file that cannot be read as a
checkpoint (truncated, damaged, not a checkpoint at all) is reported and ignored too: the
run starts over, which costs time but gives the right result, instead of failing on every
rerun until someone deletes the file.
"""

from __future__ import annotations

import hashlib
import logging
from functools import cache
from pathlib import Path
from typing import Any

import torch

from lossscale.imports import module_code
from lossscale.io import atomic_path
from lossscale.provenance import content_hash

log = logging.getLogger(__name__)

#: The layout of a checkpoint file; a file of another layout is not read.
FORMAT = 1
#: The module whose source (with everything it imports) makes a training run.
TRAINING_CODE = "lossscale.train.cell"


@cache
def code_hash() -> str:
    """SHA-256 of the training code's source files, in sorted order."""
    digest = hashlib.sha256()
    for path in module_code(TRAINING_CODE):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def fingerprint(spec: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``spec`` and the training code's source."""
    return content_hash({"spec": spec, "code": code_hash()})


def save_checkpoint(path: str | Path, key: str, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors, lists, numbers) under fingerprint ``key``, atomically."""
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, "fingerprint": key, "state": state}, tmp)


def load_checkpoint(path: str | Path | None, key: str) -> dict[str, Any] | None:
    """The state saved at ``path`` under ``key``, or None: absent, unreadable, of another
    format, or another run's (each but the first logged as a warning)."""
    if path is None or not Path(path).exists():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds for a damaged or foreign file
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        return ignore(path, f"it cannot be read as a checkpoint ({type(err).__name__}: {first})")
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        found = saved.get("format") if isinstance(saved, dict) else type(saved).__name__
        return ignore(path, f"its format is {found!r}, not {FORMAT} (another version)")
    if saved.get("fingerprint") != key:
        return ignore(path, "it belongs to another configuration or version of the code")
    if not isinstance(saved.get("state"), dict):
        return ignore(path, "it holds no training state")
    return saved["state"]


def ignore(path: str | Path, why: str) -> None:
    """Warn that the checkpoint at ``path`` is not used, and why (the run starts over)."""
    log.warning("ignoring checkpoint %s: %s; training starts from step 0", path, why)
    return None
