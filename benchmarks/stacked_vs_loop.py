"""Stacked training against what a PyTorch user would write instead, for every model family.

For each family, R replicas (seeds x loss scales) trained with Adam in float32 three ways,
each doing the same work per step (the training loss on the step's batch, backward,
optimizer step, and every ``--record-every`` steps what the engine records: the held-out
loss and metric, on minibatches the loss on the whole training split, the gradient's RMS
and fractions of zero and non-finite entries, the parameters' RMS and the update's RMS,
the statistics by the engine's own functions); all in one process with the allocator
set as training jobs set it (``lossscale.device.keep_freed_memory``):
- **stacked**: this project's engine (``lossscale.train.engine.train_stacked``);
- **torch.func**: PyTorch's model-ensembling recipe, ``torch.func.stack_module_state``
  of the replicas' modules and ``vmap(functional_call)``, trained with one
  ``torch.optim.Adam`` over the stacked leaves;
- **one by one**: each replica's ``nn.Module`` and its own ``torch.optim.Adam``.

Families and their cells, from the default study (``config.yaml``): ``mlp`` the asker's
cell (diabetes, tiny target scale, 10-32-32-1 MLP with ``--activation``, full batch,
``--replicas``), ``cnn`` (``digits_cnn``: two convolutions and a linear head) and
``transformer`` (``modular``: one pre-norm block), both on minibatches of
``--batch-size`` with ``--family-replicas`` replicas, recording every
``--family-record-every`` steps as the study does. Prints per family the time per
replica-step of each variant, the ratios, and the fraction of this machine's float32
matmul peak (measured here, now) that the stacked step reaches (FLOPs counted by
``torch.utils.flop_counter`` on one replica's step); then ``speedup vs torch.func: <R>x``
and, last, ``speedup: <R>x`` (stacked against one by one), both for the MLP cell.

    .venv/bin/python benchmarks/stacked_vs_loop.py [--families mlp,cnn,transformer]
        [--replicas 125] [--family-replicas 20] [--steps 100] [--repeats 5]
        [--record-every 1] [--family-record-every 10]
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import time
from collections.abc import Callable
from pathlib import Path

import torch
import yaml
from torch.func import functional_call, stack_module_state, vmap
from torch.utils.flop_counter import FlopCounterMode

from lossscale.config import load_schema, validate_config
from lossscale.device import keep_freed_memory, make_deterministic
from lossscale.models import ACTIVATIONS, build_model
from lossscale.runtime import cpu_model
from lossscale.tasks import Task, make_task
from lossscale.train.engine import grad_stats, rms, train_stacked, update_rms
from lossscale.train.minibatch import Minibatches

#: The default study, whose tasks the benchmark times (validated, defaults filled in).
CONFIG = Path(__file__).resolve().parents[1] / "config.yaml"
#: Each family's task in the default study and whether it trains on minibatches.
FAMILIES = {
    "mlp": ("diabetes", False),
    "cnn": ("digits_cnn", True),
    "transformer": ("modular", True),
}
HYPER = {"lr": 1e-3, "eps": 1e-8}


def study_tasks() -> dict:
    """The settings of the default study's tasks."""
    return validate_config(yaml.safe_load(CONFIG.read_text()), load_schema())["tasks"]


def replicas(n: int) -> tuple[list[int], list[float]]:
    """n replicas: 5 seeds x n/5 loss scales log-spaced over 1e-4 .. 1e6."""
    per_seed = max(1, n // 5)
    alphas = [10 ** (-4 + 10 * i / max(1, per_seed - 1)) for i in range(per_seed)]
    pairs = [(s, a) for a in alphas for s in range(5)][:n]
    return [s for s, _ in pairs], [a for _, a in pairs]


class Cell:
    """One family's cell: its task, replicas, batches and step count."""

    def __init__(self, task: Task, n: int, steps: int, batch: int, record_every: int):
        self.task, self.steps, self.batch, self.record_every = task, steps, batch, record_every
        self.seeds, self.alphas = replicas(n)
        self.batches = Minibatches(len(task.y_train), batch, self.seeds, "cpu") if batch else None

    def data(self, step: int, r: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The step's training inputs and targets: all replicas' (``[R, B, ...]``) or
        replica r's, or the full training split."""
        x, y = self.task.x_train, self.task.y_train
        if self.batches is None:
            return x, y
        index = self.batches.indices(step)
        return (x[index], y[index]) if r is None else (x[index[r]], y[index[r]])

    def records(self, step: int) -> bool:
        return step % self.record_every == 0 or step == self.steps - 1

    def recorded(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """What a recorded step evaluates besides its batch, as the engine does: the
        held-out split, and on minibatches the whole training split."""
        task = self.task
        full = [] if self.batches is None else [(task.x_train, task.y_train)]
        return [*full, (task.x_test, task.y_test)]

    def modules(self) -> list[torch.nn.Module]:
        return [
            build_model(self.task.model, [s], dtype=torch.float32).lone_module(0)
            for s in self.seeds
        ]


def stacked(cell: Cell) -> None:
    """This project's engine."""
    train_stacked(cell.task, cell.seeds, cell.alphas, "adam", HYPER, cell.steps,
                  record_every=cell.record_every, batch_size=cell.batch)  # fmt: skip


def evaluate(task: Task, out: torch.Tensor, y: torch.Tensor) -> None:
    """The loss and the metric of stacked outputs, as a recorded step takes them."""
    task.metric(out, y, task.loss(out, y))


def statistics(params: list[torch.Tensor], grads: list[torch.Tensor]) -> list[torch.Tensor]:
    """What a recorded step takes of the stacked ``params`` and their ``grads`` before the
    update (gradient and parameter statistics, by the engine's functions); returns the
    parameters' copy from which the update's RMS is taken after it."""
    grad_stats(grads)
    rms(params)
    return [p.detach().clone() for p in params]


def torch_func(cell: Cell) -> None:
    """PyTorch's ensembling recipe: stacked leaves, vmap(functional_call), one Adam."""
    modules = cell.modules()
    params, buffers = stack_module_state(modules)
    leaves = list(params.values())
    base = copy.deepcopy(modules[0]).to("meta")
    opt = torch.optim.Adam(leaves, **HYPER)
    scale = torch.tensor(cell.alphas)

    def one(p, b, x):
        return functional_call(base, (p, b), (x,))

    task = cell.task
    for step in range(cell.steps):
        opt.zero_grad()
        x, y = cell.data(step)
        out = vmap(one, in_dims=(0, 0, None if cell.batches is None else 0))(params, buffers, x)
        (scale * task.loss(out, y)).sum().backward()
        before = None
        with torch.no_grad():
            if cell.records(step):
                for x, y in cell.recorded():
                    evaluate(task, vmap(one, in_dims=(0, 0, None))(params, buffers, x), y)
                before = statistics(leaves, [p.grad for p in leaves])
            opt.step()
            if before is not None:
                update_rms(leaves, before)


def one_by_one(cell: Cell) -> list[float]:
    """Each replica alone: its module and its Adam. Returns each replica's time."""
    times, task = [], cell.task
    for r, (module, alpha) in enumerate(zip(cell.modules(), cell.alphas, strict=True)):
        t = time.perf_counter()
        opt = torch.optim.Adam(module.parameters(), **HYPER)
        stacked = [p[None] for p in module.parameters()]
        for step in range(cell.steps):
            opt.zero_grad()
            x, y = cell.data(step, r)
            (alpha * task.loss(module(x)[None], y)[0]).backward()
            before = None
            with torch.no_grad():
                if cell.records(step):
                    for x, y in cell.recorded():
                        evaluate(task, module(x)[None], y)
                    before = statistics(stacked, [p.grad[None] for p in module.parameters()])
                opt.step()
                if before is not None:
                    update_rms(stacked, before)
        times.append(time.perf_counter() - t)
    return times


def step_flops(cell: Cell) -> float:
    """FLOPs of one replica's training step (forward and backward on the step's batch,
    plus its share of the held-out forward), counted by PyTorch."""
    module, task = cell.modules()[0], cell.task
    x, y = cell.data(0, 0)
    with FlopCounterMode(display=False) as train:
        task.loss(module(x)[None], y)[0].backward()
    with FlopCounterMode(display=False) as recorded, torch.no_grad():
        for x, _ in cell.recorded():
            module(x)
    return train.get_total_flops() + recorded.get_total_flops() / cell.record_every


def matmul_peak(seconds: float = 2.0) -> float:
    """Best float32 GFLOP/s of a 1024^3 matmul on this machine, now."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * 1024**3 / (time.perf_counter() - t) / 1e9)
    return best


def best_times(cell: Cell, repeats: int) -> dict[str, float]:
    """Seconds per replica-step of each variant. The machine is shared and its speed
    drifts for seconds at a time, so each time is the least disturbed of ``repeats``,
    the variants alternating so that all see the same load (a lone replica's time is
    its best, summed over replicas)."""
    variants: dict[str, Callable[[Cell], object]] = {"stacked": stacked, "torch.func": torch_func}
    for run in variants.values():  # warm-up
        run(Cell(cell.task, 5, 3, cell.batch, cell.record_every))
    best = dict.fromkeys(variants, float("inf"))
    lone = [float("inf")] * len(cell.seeds)
    for _ in range(repeats):
        for name, run in variants.items():
            t = time.perf_counter()
            run(cell)
            best[name] = min(best[name], time.perf_counter() - t)
        lone = [min(a, b) for a, b in zip(lone, one_by_one(cell), strict=True)]
    best["one by one"] = sum(lone)
    return {k: v / (len(cell.seeds) * cell.steps) for k, v in best.items()}


def record(path: Path, reached: dict[str, float], times: dict[str, dict[str, float]]) -> None:
    """Write this CPU's measurement into ``path`` (other machine kinds kept)."""
    recorded = json.loads(path.read_text()) if path.is_file() else {}
    recorded["cpu"] = {
        "machine": cpu_model(),
        "threads": torch.get_num_threads(),
        "date": datetime.date.today().isoformat(),
        "torch": torch.__version__,
        "gflops": {f: round(g, 3) for f, g in reached.items()},
        "us_per_replica_step": {
            f: {v: round(s * 1e6, 1) for v, s in t.items()} for f, t in times.items()
        },
    }
    path.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")
    print(f"recorded in {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--activation", choices=sorted(ACTIVATIONS), default="relu")
    parser.add_argument("--replicas", type=int, default=125)
    parser.add_argument("--family-replicas", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--record-every", type=int, default=1)
    parser.add_argument("--family-record-every", type=int, default=10)
    parser.add_argument(
        "--record",
        type=Path,
        help="write the stacked step's GFLOP/s per family to this file (make grid reads "
        "benchmarks/throughput.json)",
    )
    args = parser.parse_args()
    families = args.families.split(",")
    if "mlp" not in families or any(f not in FAMILIES for f in families):
        parser.error(f"--families: {args.families!r}; allowed: mlp and any of {list(FAMILIES)}")
    make_deterministic(args.threads)
    keep_freed_memory()
    tasks = study_tasks()
    peak = matmul_peak()
    print(f"float32, Adam, {torch.get_num_threads()} threads; matmul peak {peak:.1f} GFLOP/s")
    ratios, reached_by = {}, {}
    for family in families:
        name, minibatches = FAMILIES[family]
        settings = dict(tasks[name])
        if family == "mlp":
            settings["activation"] = args.activation
        task = make_task(name, settings, torch.float32, "cpu")
        n = args.replicas if family == "mlp" else args.family_replicas
        batch = args.batch_size if minibatches else 0
        every = args.record_every if family == "mlp" else args.family_record_every
        cell = Cell(task, n, args.steps, batch, every)
        times = best_times(cell, args.repeats)
        reached = step_flops(cell) / times["stacked"] / 1e9
        print(f"{family}: task {name}, {n} replicas, {args.steps} steps, "
              f"{'batch ' + str(batch) if batch else 'full batch'}")  # fmt: skip
        for variant, seconds in times.items():
            print(f"  {variant + ':':12s}{seconds * 1e6:9.1f} us per replica-step")
        print(f"  stacked reaches {reached:.2f} GFLOP/s ({100 * reached / peak:.1f}% of peak); "
              f"{times['torch.func'] / times['stacked']:.1f}x torch.func, "
              f"{times['one by one'] / times['stacked']:.1f}x one by one")  # fmt: skip
        ratios[family] = times
        reached_by[family] = reached
    if args.record:
        record(args.record, reached_by, ratios)
    mlp = ratios["mlp"]
    print(f"speedup vs torch.func: {mlp['torch.func'] / mlp['stacked']:.1f}x")
    print(f"speedup: {mlp['one by one'] / mlp['stacked']:.1f}x")


if __name__ == "__main__":
    main()
