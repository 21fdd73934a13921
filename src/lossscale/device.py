"""Device choice and the settings that make torch runs repeatable."""

from __future__ import annotations

import os

import torch


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
    """Fix the thread count and ask torch for deterministic algorithms."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
