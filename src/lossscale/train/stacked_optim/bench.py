"""Micro-benchmark: time per step of stacked optimizers against ``torch.optim`` on one stack.

``python -m lossscale.train.stacked_optim.bench [replicas] [threads]`` prints microseconds
per step for R replicas of an MLP's parameter shapes (default: 125 replicas of the
diabetes MLP 10-32-32-1, float32): the stacked optimizer with shared and with
per-replica hyperparameters, and ``torch.optim`` with scalar hyperparameters on the same
stacked tensors, single-tensor (its CPU default) and ``foreach``.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable, Sequence

import torch

from lossscale.train.stacked_optim import make_stacked_optimizer


def _stack(replicas: int, sizes: Sequence[int], dtype: torch.dtype) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    shapes = [
        shape
        for fan_in, fan_out in itertools.pairwise(sizes)
        for shape in ((replicas, fan_in, fan_out), (replicas, 1, fan_out))
    ]
    params = []
    for shape in shapes:
        p = torch.randn(shape, generator=gen, dtype=dtype).requires_grad_()
        p.grad = torch.randn(shape, generator=gen, dtype=dtype)
        params.append(p)
    return params


def _time_per_step(step: Callable[[], object], steps: int, repeats: int) -> float:
    """Best of ``repeats`` runs of ``steps`` steps, in microseconds per step."""
    for _ in range(steps // 4 + 1):
        step()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        best = min(best, (time.perf_counter() - start) / steps)
    return best * 1e6


def benchmark(
    optimizer: str = "adam",
    replicas: int = 125,
    sizes: Sequence[int] = (10, 32, 32, 1),
    dtype: torch.dtype = torch.float32,
    steps: int = 200,
    repeats: int = 5,
) -> dict[str, float]:
    """Microseconds per step of each variant, on the same stacked parameter shapes.

    The gradients stay fixed and of order one, so that no state underflows into
    subnormal numbers (which would slow every variant alike).
    """
    reference = {"adam": torch.optim.Adam, "nadam": torch.optim.NAdam}[optimizer]
    per_replica = {
        "lr": torch.logspace(-4, -2, replicas, dtype=torch.float64),
        "eps": torch.logspace(-12, -4, replicas, dtype=torch.float64),
    }
    variants: dict[str, Callable[[list[torch.Tensor]], object]] = {
        "stacked, shared hyperparameters": lambda ps: make_stacked_optimizer(
            optimizer, ps, replicas, {"lr": 1e-3}
        ),
        "stacked, per-replica lr and eps": lambda ps: make_stacked_optimizer(
            optimizer, ps, replicas, per_replica
        ),
        "torch.optim, single-tensor (CPU default)": lambda ps: reference(
            ps, lr=1e-3, foreach=False
        ),
        "torch.optim, foreach": lambda ps: reference(ps, lr=1e-3, foreach=True),
    }
    results = {}
    for label, make in variants.items():
        opt = make(_stack(replicas, sizes, dtype))
        results[label] = _time_per_step(opt.step, steps, repeats)  # type: ignore[attr-defined]
    return results


def main(argv: Sequence[str] = ()) -> None:
    """Print the benchmark for Adam and NAdam."""
    replicas = int(argv[0]) if argv else 125
    if len(argv) > 1:
        torch.set_num_threads(int(argv[1]))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {replicas} replicas")
    for optimizer in ("adam", "nadam"):
        results = benchmark(optimizer, replicas)
        base = results["torch.optim, single-tensor (CPU default)"]
        for label, us in results.items():
            print(f"{optimizer:6s} {label:42s} {us:8.1f} us/step  {base / us:5.2f}x")


if __name__ == "__main__":
    main(sys.argv[1:])
