"""Stacked training of the asker's cell against the same replicas trained one by one.

The asker's cell: diabetes regression with a tiny target scale, a 10-32-32-1 MLP (hidden
activation ``--activation``), Adam, float32, 125 replicas (25 loss scales x 5 seeds),
full batch. Both variants do the same work per step (training loss, backward, optimizer
step, and every ``--record-every`` steps the held-out loss) with the same activation, in
the same process with the same threads. Prints the time per replica-step of both, the
fraction of this machine's float32 matmul peak (measured here, now) that the stacked
step reaches, and as its last line ``speedup: <ratio>x``.

    .venv/bin/python benchmarks/stacked_vs_loop.py [--activation relu] [--replicas 125]
        [--steps 100] [--repeats 5] [--record-every 1]
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import torch
import yaml

from lossscale.config import load_schema, validate_config
from lossscale.device import make_deterministic
from lossscale.models import ACTIVATIONS, build_model
from lossscale.tasks import make_task
from lossscale.train.engine import train_stacked

#: The asker's task as the default study defines it (config.yaml, with the schema's
#: defaults filled in), so the benchmark times the cell the study trains.
CONFIG = Path(__file__).resolve().parents[1] / "config.yaml"


def asker_settings() -> dict:
    """The settings of the default study's task ``diabetes``."""
    config = validate_config(yaml.safe_load(CONFIG.read_text()), load_schema())
    return dict(config["tasks"]["diabetes"])


HYPER = {"lr": 1e-3, "eps": 1e-8}


def replicas(n: int) -> tuple[list[int], list[float]]:
    """n replicas: 5 seeds x n/5 loss scales log-spaced over 1e-4 .. 1e6."""
    per_seed = max(1, n // 5)
    alphas = [10 ** (-4 + 10 * i / max(1, per_seed - 1)) for i in range(per_seed)]
    pairs = [(s, a) for a in alphas for s in range(5)][:n]
    return [s for s, _ in pairs], [a for _, a in pairs]


def solo(task, seed: int, alpha: float, steps: int, record_every: int) -> None:
    """One replica, the textbook way: nn.Sequential and torch.optim.Adam; the held-out
    loss at the steps the stacked run records (every ``record_every``-th and the last)."""
    model = build_model(task.model, [seed], dtype=torch.float32).lone_module(0)
    opt = torch.optim.Adam(model.parameters(), **HYPER)
    for step in range(steps):
        opt.zero_grad()
        (alpha * ((model(task.x_train) - task.y_train) ** 2).mean()).backward()
        opt.step()
        if step % record_every == 0 or step == steps - 1:
            with torch.no_grad():
                ((model(task.x_test) - task.y_test) ** 2).mean()


def matmul_peak(seconds: float = 2.0) -> float:
    """Best float32 GFLOP/s of a 1024^3 matmul on this machine, now."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * 1024**3 / (time.perf_counter() - t) / 1e9)
    return best


def step_flops(task, record_every: int) -> float:
    """Multiply-add FLOPs of one replica's training step: forward + backward (about 3x
    the forward matmuls) on the training set, plus the held-out forward when recorded."""
    sizes = task.model.args["sizes"]
    per_example = sum(2 * a * b for a, b in itertools.pairwise(sizes))
    return per_example * (3 * len(task.y_train) + len(task.y_test) / record_every)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--activation", choices=sorted(ACTIVATIONS), default="relu")
    parser.add_argument("--replicas", type=int, default=125)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--record-every", type=int, default=1)
    args = parser.parse_args()
    make_deterministic(args.threads)
    settings = {**asker_settings(), "activation": args.activation}
    task = make_task("diabetes", settings, torch.float32, "cpu")
    seeds, alphas = replicas(args.replicas)
    n = len(seeds)
    sizes = task.model.args["sizes"]
    print(
        f"asker's cell: diabetes {sizes} {args.activation} MLP, Adam, float32, "
        f"{n} replicas, {args.steps} steps, held-out loss every {args.record_every}, "
        f"{torch.get_num_threads()} threads"
    )

    def stacked_run() -> None:
        train_stacked(
            task, seeds, alphas, "adam", HYPER, args.steps, record_every=args.record_every
        )

    train_stacked(task, seeds, alphas, "adam", HYPER, 5)  # warm-up
    solo(task, seeds[0], alphas[0], 5, args.record_every)
    # This machine is shared and its speed drifts for seconds at a time, so each time is
    # the least disturbed of many, the variants alternating so that both see the same
    # load: the best stacked run (three per repeat, as one is about as long as ten lone
    # runs) and the sum over replicas of each lone run's best of ``--repeats``.
    stacked_best, solo_best = float("inf"), [float("inf")] * n
    for _ in range(args.repeats):
        for _ in range(3):
            t = time.perf_counter()
            stacked_run()
            stacked_best = min(stacked_best, time.perf_counter() - t)
        for r, (seed, alpha) in enumerate(zip(seeds, alphas, strict=True)):
            t = time.perf_counter()
            solo(task, seed, alpha, args.steps, args.record_every)
            solo_best[r] = min(solo_best[r], time.perf_counter() - t)
    stacked, loop = stacked_best / (n * args.steps), sum(solo_best) / (n * args.steps)

    peak = matmul_peak()
    achieved = step_flops(task, args.record_every) / stacked / 1e9
    print(f"one by one: {loop * 1e6:8.1f} us per replica-step")
    print(f"stacked:    {stacked * 1e6:8.1f} us per replica-step")
    print(
        f"matmul peak {peak:.1f} GFLOP/s; stacked step reaches {achieved:.2f} GFLOP/s "
        f"({100 * achieved / peak:.1f}% of peak)"
    )
    print(f"speedup: {loop / stacked:.1f}x")


if __name__ == "__main__":
    main()
