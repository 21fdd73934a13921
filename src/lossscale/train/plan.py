"""The training grid's size and estimated cost, before anything trains (``make grid``).

Per block and in total: cells, replicas, replica-steps, FLOPs, and the estimated hours on
the machines whose throughput ``benchmarks/stacked_vs_loop.py --record`` measured
(``benchmarks/throughput.json``: GFLOP/s the stacked step reached per model family, with
the date, machine and threads). A cell's FLOPs per replica-step are counted by PyTorch
on one replica of its task (training step on its batch, plus its share of the recorded
evaluations). The estimate is for element-wise optimizers in float32 or float64; cells
with a per-replica optimizer (one instance per replica, several times slower) or a
16-bit autocast precision (slower on a CPU) are counted at that speed and marked ``*``:
for them the hours are a lower bound.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

from lossscale.config import ConfigError, load_schema, validate_config
from lossscale.imports import SRC
from lossscale.models import build_model
from lossscale.study import optimizers
from lossscale.study.grid import Job, block_jobs, check_size, format_summary, summary
from lossscale.tasks import make_task

#: The checkout this package belongs to.
ROOT = SRC.parent
#: The throughput the benchmark recorded.
THROUGHPUT = ROOT / "benchmarks/throughput.json"
#: Precisions at the float32 speed (the others are autocast, marked as lower bounds).
MEASURED_PRECISIONS = ("float32", "float64")


@cache
def _step_flops(task: str, settings: str, batch_size: int, record_every: int) -> tuple[str, float]:
    """(model family, FLOPs of one replica-step) of a cell; ``settings`` as JSON."""
    data = make_task(task, json.loads(settings), torch.float32, "cpu")
    module = build_model(data.model, [0], dtype=torch.float32).lone_module(0)
    n = len(data.y_train)
    step = slice(None) if not batch_size else slice(0, min(batch_size, n))
    with FlopCounterMode(display=False) as train:
        data.loss(module(data.x_train[step])[None], data.y_train[step])[0].backward()
    recorded = [data.x_test] + ([data.x_train] if batch_size else [])
    with FlopCounterMode(display=False) as evaluation, torch.no_grad():
        for x in recorded:
            module(x)
    return data.model.name, train.get_total_flops() + evaluation.get_total_flops() / record_every


def cell_cost(job: Job, replicas: int, config: Mapping) -> dict:
    """A cell's family, FLOPs, and whether its speed is measured."""
    settings = json.dumps(config["tasks"][job.task], sort_keys=True)
    family, flops = _step_flops(job.task, settings, job.batch_size, config["train"]["record_every"])
    measured = (
        optimizers.get(job.optimizer).kind == "stacked" and job.precision in MEASURED_PRECISIONS
    )
    return {"family": family, "flops": flops * replicas * job.steps, "measured": measured}


def load_throughput(path: Path = THROUGHPUT) -> dict:
    """The recorded throughput (machines by kind: ``cpu``, ``gpu``); {} if none."""
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ConfigError(
            f"{path}: not valid JSON ({err}); rerun the benchmark with --record"
        ) from None


def estimate(config: Mapping, throughput: Mapping) -> list[dict]:
    """Per block and for the grid: FLOPs and hours per recorded machine kind."""
    rows = summary(config)
    blocks = config["train"]["blocks"]
    grid: dict[Job, int] = {}
    costs = {}
    for name, block in blocks.items():
        jobs = block_jobs(name, block, config)
        costs[name] = [cell_cost(job, len(r), config) for job, r in jobs.items()]
        for job, r in jobs.items():
            grid[job] = max(grid.get(job, 0), len(r))
    costs["grid"] = [cell_cost(job, n, config) for job, n in grid.items()]
    for row in rows:
        cells = costs[row["block"]]
        row["flops"] = sum(c["flops"] for c in cells)
        row["lower_bound"] = not all(c["measured"] for c in cells)
        for kind, machine in throughput.items():
            rates = machine["gflops"]
            seconds = sum(c["flops"] / (rates[c["family"]] * 1e9) for c in cells)
            row[f"{kind}_hours"] = seconds / 3600 * (machine["threads"] if kind == "cpu" else 1)
    return rows


def format_plan(rows: list[dict], throughput: Mapping, per_job: int) -> str:
    """The summary table with FLOPs and hours, and the machines the hours are for."""
    table = format_summary(rows, per_job).splitlines()
    kinds = list(throughput)
    head = f"{table[0]}{'TFLOP':>10}" + "".join(
        f"{kind.upper() + ('-core' if kind == 'cpu' else '') + ' h':>12}" for kind in kinds
    )
    lines = [head]
    body = [line for line in table[1:-1] if not line.startswith("-")]
    for line, row in zip(body, rows, strict=True):
        if row["block"] == "grid":
            lines.append("-" * len(head))
        hours = "".join(
            f"{row[f'{k}_hours']:>11.2f}{'*' if row['lower_bound'] else ' '}" for k in kinds
        )
        lines.append(f"{line}{row['flops'] / 1e12:>10.2f}{hours}".rstrip())
    lines.append(table[-1])
    for kind, machine in throughput.items():
        rates = ", ".join(f"{f} {g:.1f}" for f, g in machine["gflops"].items())
        lines.append(
            f"{kind}: {machine['machine']}, {machine['threads']} threads, measured "
            f"{machine['date']} (GFLOP/s per family: {rates})"
        )
    if not throughput:
        lines.append("no throughput recorded: run benchmarks/stacked_vs_loop.py --record")
    elif "gpu" not in throughput:
        lines.append("gpu: no measurement recorded (no GPU hours)")
    if throughput and any(row["lower_bound"] for row in rows):
        lines.append("* includes per-replica optimizers or 16-bit autocast: a lower bound")
    return "\n".join(lines)


def merged(base: Mapping, overlay: Mapping) -> dict:
    """``overlay`` merged into ``base`` as Snakemake merges a ``--configfile`` into the
    workflow's config: mappings key by key, everything else replaced."""
    out = dict(base)
    for key, value in overlay.items():
        both = isinstance(value, Mapping) and isinstance(base.get(key), Mapping)
        out[key] = merged(base[key], value) if both else value
    return out


def load_study(path: Path, replace: bool) -> dict:
    """The validated config that ``make paper CONFIG=path`` runs: ``path`` merged into
    the repository's ``config.yaml`` (unless ``replace``, as ``--replace-workflow-config``)."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not a YAML config file ({err})") from None
    if raw is None:
        raise ConfigError(f"{path}: the config file is empty (as Snakemake, refused)")
    default = ROOT / "config.yaml"
    if not replace and path.resolve() != default:
        raw = merged(yaml.safe_load(default.read_text()), raw)
    config = validate_config(raw, load_schema())
    check_size(config)
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print the training grid's size and cost.")
    parser.add_argument("configfile", nargs="?", default="config.yaml", type=Path)
    parser.add_argument(
        "--replace", action="store_true", help="the file on its own, not merged into config.yaml"
    )
    args = parser.parse_args(argv)
    try:
        config = load_study(args.configfile, args.replace)
        throughput = load_throughput()
        rows = estimate(config, throughput)
        print(format_plan(rows, throughput, config["cells_per_job"]))
    except (OSError, ConfigError) as err:
        print(f"lossscale: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
