"""The training grid: the config's crossed blocks expanded into cells and replicas.

Each block crosses its tasks x optimizers x precisions (one cell each, a ``Job``, at
the block's batch size and number of steps) with its regularizations x compensations x
alphas x seeds (the replicas of the cell, trained together as one stacked model).
Blocks may share cells and replicas (the main block's alpha = 1 run is every block's
reference); a replica named by several blocks trains once. :func:`summary` sizes every
block and the whole grid without training anything (``make grid``:
:mod:`lossscale.train.plan`)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

from lossscale.config import ConfigError
from lossscale.study.phase import check_phase
from lossscale.study.variants import Replica, unsupported


@dataclass(frozen=True, order=True)
class Job:
    """One training cell: a (task, optimizer, precision) trained ``steps`` steps on
    batches of ``batch_size`` examples (0: full batch), all its replicas stacked (a
    workflow job trains ``cells_per_job`` cells, see :func:`batches`)."""

    task: str
    optimizer: str
    precision: str
    batch_size: int
    steps: int

    @property
    def stem(self) -> str:
        """The cell's name in result, log and checkpoint paths, e.g.
        ``diabetes/nadam/float32/full-500``."""
        batch = f"batch{self.batch_size}" if self.batch_size else "full"
        return f"{self.task}/{self.optimizer}/{self.precision}/{batch}-{self.steps}"

    @property
    def path(self) -> str:
        """The cell's training table."""
        return f"results/train/{self.stem}.parquet"

    @property
    def log(self) -> str:
        return f"logs/train_cell/{self.stem}.log"

    @property
    def checkpoint(self) -> str:
        return f"results/checkpoints/{self.stem}.pt"


def block_jobs(name: str, block: Mapping, config: Mapping) -> dict[Job, list[Replica]]:
    """The jobs and replicas of one block; errors name the block's key and value."""
    for optimizer, reg, comp in itertools.product(
        block["optimizers"], block["regularizations"], block["compensations"]
    ):
        why = unsupported(optimizer, reg, comp)
        if why:
            raise ConfigError(
                f"train.blocks.{name}: optimizer {optimizer!r} with regularization {reg!r} "
                f"and compensation {comp!r} is not allowed: {why}"
            )
    if block["batch_size"] and "lbfgs" in block["optimizers"]:
        raise ConfigError(
            f"train.blocks.{name}.batch_size: value {block['batch_size']} is not allowed with "
            "optimizer 'lbfgs' (its line search evaluates the whole training split); allowed: 0"
        )
    if block["weight_decay"] == 0 and set(block["regularizations"]) - {"none"}:
        raise ConfigError(
            f"train.blocks.{name}.weight_decay: value 0 is not allowed with regularizations "
            f"{block['regularizations']}; allowed: a value > 0"
        )
    replicas = [
        Replica(reg, comp, block["weight_decay"] if reg != "none" else 0.0, alpha, seed)
        for reg, comp, alpha, seed in itertools.product(
            block["regularizations"],
            block["compensations"],
            block["alphas"],
            range(block["seeds"]),
        )
    ]
    return {
        Job(*cell, block["batch_size"], block["steps"]): replicas
        for cell in itertools.product(block["tasks"], block["optimizers"], block["precisions"])
    }


#: The block lists whose lengths multiply into a block's cells and its runs per cell.
CELL_AXES = ("tasks", "optimizers", "precisions")
RUN_AXES = ("regularizations", "compensations", "alphas")


def block_size(block: Mapping) -> dict[str, int]:
    """A block's cells, replicas and replica-steps, by arithmetic on its lists (so that
    an absurd block is sized without building its replicas)."""
    cells = math.prod(len(block[axis]) for axis in CELL_AXES)
    runs = math.prod(len(block[axis]) for axis in RUN_AXES) * block["seeds"]
    replicas = cells * runs
    return {"cells": cells, "replicas": replicas, "replica_steps": replicas * block["steps"]}


def check_size(config: Mapping) -> None:
    """Refuse, before expanding anything, a grid larger than config ``limits``: the
    error names the largest block, the lists that make its size and the override."""
    blocks = config["train"]["blocks"]
    limits = config["limits"]
    sizes = {name: block_size(block) for name, block in blocks.items()}
    for measure, limit in limits.items():
        total = sum(size[measure] for size in sizes.values())
        if total <= limit:
            continue
        name = max(sizes, key=lambda n: sizes[n][measure])
        block = blocks[name]
        axes = CELL_AXES if measure == "cells" else (*CELL_AXES, *RUN_AXES)
        factors = [f"{axis} {len(block[axis])}" for axis in axes]
        factors += [] if measure == "cells" else [f"seeds {block['seeds']:,}"]
        factors += [f"steps {block['steps']:,}"] if measure == "replica_steps" else []
        raise ConfigError(
            f"limits.{measure}: the blocks ask for {total:,} "
            f"{measure.replace('_', '-')} in all, more than the limit {limit:,}; the largest block "
            f"is train.blocks.{name} with {sizes[name][measure]:,} "
            f"({' x '.join(factors)}). Check those keys for a typo; to plan a grid this "
            f"large on purpose (a cluster), set limits.{measure} in the config, e.g. "
            f"--config 'limits={{{measure}: {total}}}'"
        )


def _blocks(config: Mapping) -> dict[str, dict[Job, list[Replica]]]:
    """Each block's jobs and replicas, by block name (phase blocks checked)."""
    check_phase(config)
    return {name: block_jobs(name, b, config) for name, b in config["train"]["blocks"].items()}


def _merge(blocks: Mapping[str, dict[Job, list[Replica]]]) -> dict[Job, list[Replica]]:
    """The blocks' jobs with their replicas each once, jobs and replicas sorted."""
    merged: dict[Job, set[Replica]] = {}
    for jobs in blocks.values():
        for job, replicas in jobs.items():
            merged.setdefault(job, set()).update(replicas)
    return {job: sorted(merged[job]) for job in sorted(merged)}


def expand(config: Mapping) -> dict[Job, list[Replica]]:
    """Every job of the grid with its replicas (each once, sorted), jobs sorted; a grid
    beyond config ``limits`` is refused before it is built."""
    check_size(config)
    return _merge(_blocks(config))


def batches(cells: Iterable[Job], per_job: int) -> list[tuple[Job, ...]]:
    """The cells in sorted order, cut into runs of ``per_job`` (the last may be shorter):
    the cells that one workflow job trains one after another (config ``cells_per_job``)."""
    if per_job < 1:
        raise ValueError(f"cells_per_job: value {per_job!r} is not allowed; allowed: >= 1")
    ordered = sorted(cells)
    return [tuple(ordered[i : i + per_job]) for i in range(0, len(ordered), per_job)]


def replica_dicts(replicas: list[Replica]) -> list[dict]:
    """Replicas as plain mappings (a job's parameters)."""
    return [asdict(r) for r in replicas]


def summary(config: Mapping) -> list[dict]:
    """Rows of (block, jobs, replicas, replica-steps), then the whole grid (replicas that
    blocks share counted once)."""
    blocks = _blocks(config)
    rows = []
    for name, jobs in [*blocks.items(), ("grid", _merge(blocks))]:
        n = sum(len(r) for r in jobs.values())
        steps = sum(len(r) * job.steps for job, r in jobs.items())
        rows.append({"block": name, "jobs": len(jobs), "replicas": n, "replica_steps": steps})
    return rows


def format_summary(rows: list[dict], per_job: int = 1) -> str:
    """The summary as an aligned text table; the last line counts the workflow's training
    jobs at ``per_job`` cells each."""
    lines = [f"{'block':<16}{'cells':>6}{'replicas':>10}{'replica-steps':>16}"]
    for row in rows:
        if row["block"] == "grid":
            lines.append("-" * len(lines[0]))
        lines.append(
            f"{row['block']:<16}{row['jobs']:>6}{row['replicas']:>10}{row['replica_steps']:>16,}"
        )
    cells = rows[-1]["jobs"]
    jobs = len(batches(range(cells), per_job))
    lines.append(f"{cells} cells in {jobs} training jobs of up to {per_job} (cells_per_job)")
    return "\n".join(lines)
