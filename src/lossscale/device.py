"""Device choice and the settings that make torch runs repeatable."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

import torch

#: glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def resolve_device(choice: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device: value 'cuda' is not available here; use 'auto' or 'cpu'")
    if choice not in ("cpu", "cuda"):
        raise ValueError(f"device: value {choice!r} is not allowed; allowed: auto, cpu, cuda")
    return torch.device(choice)


def make_deterministic(threads: int) -> None:
    """Fix the thread count and ask torch for deterministic algorithms.

    ``torch.use_deterministic_algorithms(True)`` sets the eager flag and Inductor's, and
    importing Inductor's config to do so costs a job about 1.5 s. Nothing here is
    compiled, so only the eager flag is set (the call torch makes for it), unless
    Inductor is already loaded.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.set_num_threads(threads)
    if "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(True)
    else:
        torch._C._set_deterministic_algorithms(True, warn_only=False)


def keep_freed_memory() -> bool:
    """Ask glibc's allocator to keep freed memory for reuse instead of returning it to
    the system (and faulting it in again) every training step.

    A stacked step allocates and frees activations of a few MB each; by default glibc
    serves them with fresh ``mmap`` calls or trims them from the heap, and the page faults
    cost up to a fifth of a training job's time. Raising the mmap and trim thresholds
    (to 32 MB and 1 GB) makes them reuse the heap. Returns whether the allocator is glibc's
    (elsewhere this does nothing). Numerical results do not depend on it.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):
        return False
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, 32 << 20)) and bool(mallopt(_M_TRIM_THRESHOLD, 1 << 30))
