"""Shared fixtures: the repository root and a small diabetes task."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch

from lossscale import archive
from lossscale.tasks import make_task

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def tiny_task():
    """The asker's regime in float64: diabetes with a tiny target scale, a small MLP."""
    settings = {"target_scale": 1e-4, "hidden": [8, 8], "test_fraction": 0.25, "split_seed": 0,
                "activation": "tanh", "scale_output": True}  # fmt: skip
    return make_task("diabetes", settings, torch.float64, "cpu")


SMOKE = ROOT / "workflow/configs/smoke.yaml"


def workflow_command(
    workdir: Path, configfile: Path, cores: int = 2, extra: list[str] = ()
) -> list[str]:
    """The command that runs this repository's workflow with ``configfile`` (on its own)
    in ``workdir``; ``extra``: more command-line arguments."""
    return archive.workflow_command(workdir, configfile, cores, extra)


def run_workflow(
    workdir: Path, configfile: Path, cores: int = 2, timeout: int = 900, extra: list[str] = ()
):
    """Run ``workflow_command`` to the end; capture its output."""
    cmd = workflow_command(workdir, configfile, cores, extra)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def smoke(tmp_path_factory):
    """One run of the smoke workflow in an empty directory, shared by every module that
    only reads it; returns (directory, stderr)."""
    work = tmp_path_factory.mktemp("smoke")
    result = run_workflow(work, SMOKE)
    assert result.returncode == 0, result.stderr[-4000:]
    return work, result.stderr
