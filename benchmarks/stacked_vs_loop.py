"""Stacked training of the asker's cell against the same replicas trained one by one.

The asker's cell: diabetes regression with a tiny target scale, a 10-32-32-1 tanh MLP,
Adam, float32, 125 replicas (25 loss scales x 5 seeds), full batch. Both variants do the
same work per step (training loss, backward, optimizer step, held-out loss) in the same
process with the same threads. Prints the time per replica-step of both, the fraction of
this machine's float32 matmul peak (measured here, now) that the stacked step reaches,
and as its last line ``speedup: <ratio>x``.

    .venv/bin/python benchmarks/stacked_vs_loop.py [--replicas 125] [--steps 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import itertools
import time

import torch
from torch import nn

from lossscale.device import make_deterministic
from lossscale.models import init_mlp
from lossscale.tasks import make_task
from lossscale.train.engine import train_stacked

SETTINGS = {"target_scale": 1e-5, "hidden": [32, 32], "test_fraction": 0.25, "split_seed": 0}
HYPER = {"lr": 1e-3, "eps": 1e-8}


def replicas(n: int) -> tuple[list[int], list[float]]:
    """n replicas: 5 seeds x n/5 loss scales log-spaced over 1e-4 .. 1e6."""
    per_seed = max(1, n // 5)
    alphas = [10 ** (-4 + 10 * i / max(1, per_seed - 1)) for i in range(per_seed)]
    pairs = [(s, a) for a in alphas for s in range(5)][:n]
    return [s for s, _ in pairs], [a for _, a in pairs]


def solo(task, seed: int, alpha: float, steps: int) -> None:
    """One replica, the textbook way: nn.Sequential and torch.optim.Adam."""
    init = init_mlp(task.layer_sizes, seed)
    layers: list[nn.Module] = []
    for i in range(len(task.layer_sizes) - 1):
        linear = nn.Linear(*task.layer_sizes[i : i + 2])
        with torch.no_grad():
            linear.weight.copy_(init[2 * i].T)
            linear.bias.copy_(init[2 * i + 1][0])
        layers += [linear, nn.Tanh()]
    model = nn.Sequential(*layers[:-1])
    opt = torch.optim.Adam(model.parameters(), **HYPER)
    for _ in range(steps):
        opt.zero_grad()
        pred = model(task.x_train).squeeze(-1) * task.output_scale
        (alpha * ((pred - task.y_train) ** 2).mean()).backward()
        opt.step()
        with torch.no_grad():
            ((model(task.x_test).squeeze(-1) * task.output_scale - task.y_test) ** 2).mean()


def matmul_peak(seconds: float = 2.0) -> float:
    """Best float32 GFLOP/s of a 1024^3 matmul on this machine, now."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * 1024**3 / (time.perf_counter() - t) / 1e9)
    return best


def step_flops(task) -> float:
    """Multiply-add FLOPs of one replica's training step: forward + backward (about 3x
    the forward matmuls) on the training set, plus the held-out forward."""
    sizes = task.layer_sizes
    per_example = sum(2 * a * b for a, b in itertools.pairwise(sizes))
    return per_example * (3 * len(task.y_train) + len(task.y_test))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicas", type=int, default=125)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    make_deterministic(args.threads)
    task = make_task("diabetes", SETTINGS, torch.float32, "cpu")
    seeds, alphas = replicas(args.replicas)
    n = len(seeds)
    print(
        f"asker's cell: diabetes {task.layer_sizes}, Adam, float32, {n} replicas, "
        f"{args.steps} steps, {torch.get_num_threads()} threads"
    )

    def timed(run) -> float:
        """Best of ``--repeats`` runs, in seconds per replica-step (this machine is shared:
        the minimum is the least disturbed measurement)."""
        best = float("inf")
        for _ in range(args.repeats):
            t = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - t)
        return best / (n * args.steps)

    train_stacked(task, seeds, alphas, "adam", HYPER, 5)  # warm-up
    stacked = timed(lambda: train_stacked(task, seeds, alphas, "adam", HYPER, args.steps))
    loop = timed(lambda: [solo(task, s, a, args.steps) for s, a in zip(seeds, alphas, strict=True)])

    peak = matmul_peak()
    achieved = step_flops(task) / stacked / 1e9
    print(f"one by one: {loop * 1e6:8.1f} us per replica-step")
    print(f"stacked:    {stacked * 1e6:8.1f} us per replica-step")
    print(
        f"matmul peak {peak:.1f} GFLOP/s; stacked step reaches {achieved:.2f} GFLOP/s "
        f"({100 * achieved / peak:.1f}% of peak)"
    )
    print(f"speedup: {loop / stacked:.1f}x")


if __name__ == "__main__":
    main()
