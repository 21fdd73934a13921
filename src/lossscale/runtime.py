"""Run-time measurements: wall time per rule, hardware and date of one run.

These are the only results that may differ between two runs of the same config on the
same machine, so they live in their own files (``results/runtime/``) and the paper shows
them from a separate fragment (``paper/build/runtime.{tex,md}``).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lossscale.io import read_csv, unreadable

#: The keys of the run-time summary (results/runtime/summary.json).
SUMMARY_KEYS = ("date", "hardware", "workflow_cores", "rules", "total_wall_s")
#: The Snakemake benchmark columns this summary uses.
BENCHMARK_COLUMNS = ("s", "max_rss", "cpu_time")


def rule_of(path: str | Path, root: str | Path) -> str:
    """The rule a benchmark file belongs to: its first path component below ``root``
    (``train_cell/diabetes/adam/float32.tsv`` -> ``train_cell``), without ``.tsv``."""
    rel = Path(path).relative_to(root)
    return rel.parts[0].removesuffix(".tsv")


def read_benchmark(path: str | Path) -> dict[str, float]:
    """The last row of a Snakemake ``benchmark:`` file (wall s, peak RSS MB, CPU s)."""
    what = "a Snakemake benchmark file"
    frame = read_csv(path, required=BENCHMARK_COLUMNS, what=what, sep="\t")
    if frame.empty:
        raise unreadable(path, what, "it has no rows")
    row = frame.iloc[-1]
    return {c: float(row[c]) for c in BENCHMARK_COLUMNS}


def rule_times(paths: Iterable[str | Path], root: str | Path) -> list[dict[str, Any]]:
    """Per rule: jobs, summed and longest wall time, summed CPU time, peak RSS (rules
    sorted by name)."""
    rules: dict[str, list[dict[str, float]]] = {}
    for path in paths:
        rules.setdefault(rule_of(path, root), []).append(read_benchmark(path))
    return [
        {
            "rule": name,
            "jobs": len(rows),
            "wall_s": sum(r["s"] for r in rows),
            "max_wall_s": max(r["s"] for r in rows),
            "cpu_s": sum(r["cpu_time"] for r in rows),
            "max_rss_mb": max(r["max_rss"] for r in rows),
        }
        for name, rows in sorted(rules.items())
    ]


def cpu_model() -> str:
    """The CPU's model name (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    return pages * size / 2**30


def hardware() -> dict[str, Any]:
    """CPU model, logical cores, memory, operating system and GPU (None without CUDA)."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "system": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "gpu": gpu,
    }


def summarize(paths: Iterable[str | Path], root: str | Path, cores: int) -> dict[str, Any]:
    """The run-time summary: the date (UTC), the hardware, the cores Snakemake was
    given and the per-rule times of the benchmark files ``paths`` under ``root``."""
    rules = rule_times(paths, root)
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "hardware": hardware(),
        "workflow_cores": cores,
        "rules": rules,
        "total_wall_s": sum(r["wall_s"] for r in rules),
    }
