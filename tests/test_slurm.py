"""The smoke workflow on a real SLURM cluster (profiles/slurm) equals a local run.

Policy: in CI (CI=true) this module always runs and must pass; `.ci/run` brings up a
one-node cluster on the CI host first (ci/slurm_up.sh). Elsewhere it runs whenever SLURM
is installed (sbatch on PATH), and then fails loudly if the cluster does not answer;
only where SLURM is not installed and CI is not set is it skipped, with the reason in
the summary (run `ci/slurm_up.sh` as root to get a cluster on this machine).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT, run_workflow

from lossscale.config import load_schema, validate_config
from lossscale.figures import FIGURES
from lossscale.study import grid

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("sbatch") is None and not IN_CI,
        reason="SLURM is not installed (no sbatch) and CI is not set; `sudo ci/slurm_up.sh` "
        "brings up a one-node cluster here (in CI this test always runs)",
    ),
]

SMOKE = ROOT / "workflow/configs/smoke.yaml"
SLURM_ARGS = [
    "--workflow-profile",
    str(ROOT / "profiles/slurm"),
    # status checks from 2 s after a submission on (the plugin's default waits 40 s)
    "--slurm-init-seconds-before-status-checks",
    "2",
    "--verbose",  # prints every sbatch call
]
#: Result files that must be byte-identical (the run-time files and the PDF, which
#: includes the run-time fragment, differ between any two runs).
SAME_BYTES = [
    "results/stats/*.csv",
    "results/derivations/*",
    "results/report/context.json",
    "results/figures/*",
    "paper/build/paper.tex",
    "paper/build/paper.md",
    "paper/build/supplement.tex",
    "paper/build/supplement.md",
    "paper/build/refs.bib",
    "paper/build/figures/*",
]


def _smoke_config() -> dict:
    """The smoke config as the workflow sees it (validated, defaults filled in)."""
    raw = yaml.safe_load(SMOKE.read_text())
    return validate_config(raw, load_schema(ROOT / "workflow/schemas/config.schema.yaml"))


def _jobcomp_file() -> Path:
    """SLURM's job completion log (JobCompLoc of `scontrol show config`)."""
    config = subprocess.run(
        ["scontrol", "show", "config"], capture_output=True, text=True, timeout=30
    )
    assert config.returncode == 0, config.stderr
    match = re.search(r"^JobCompType\s*=\s*jobcomp/filetxt\s*$", config.stdout, re.M)
    assert match, "the cluster must log finished jobs to a file (JobCompType=jobcomp/filetxt)"
    return Path(re.search(r"^JobCompLoc\s*=\s*(\S+)", config.stdout, re.M).group(1))


@pytest.fixture(scope="module")
def cluster():
    """Fail loudly (never skip) when SLURM should be here but does not answer."""
    hint = "bring it up with `ci/slurm_up.sh` (as root; .ci/run does this in CI)"
    assert shutil.which("sbatch"), f"CI is set but SLURM is not installed: {hint}"
    try:
        sinfo = subprocess.run(
            ["sinfo", "-h", "-o", "%a %t"], capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"sinfo did not answer in 30 s: {hint}")
    assert sinfo.returncode == 0 and sinfo.stdout.strip(), f"SLURM is down ({sinfo.stderr}): {hint}"
    states = sinfo.stdout.split()
    assert "up" in states and {"idle", "mix", "alloc"} & set(states), (
        f"no usable partition/node: {sinfo.stdout!r}"
    )
    return _jobcomp_file()


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory):
    """The smoke workflow run locally and through SLURM, one after the other; for each:
    (directory, stderr, wall seconds)."""
    out = {}
    for name, extra, timeout in (("local", [], 900), ("slurm", SLURM_ARGS, 1800)):
        work = tmp_path_factory.mktemp(f"smoke_{name}")
        start = time.monotonic()
        result = run_workflow(work, SMOKE, timeout=timeout, extra=extra)
        seconds = time.monotonic() - start
        assert result.returncode == 0, f"{name} run failed:\n{result.stderr[-6000:]}"
        out[name] = (work, result.stderr, seconds)
    return out


def _rules_run(stderr: str, prefix: str = "(?:local)?rule") -> set[str]:
    return set(re.findall(rf"^{prefix} (\w+):$", stderr, re.M))


def test_every_rule_ran_through_sbatch(runs, cluster):
    """Each rule that a local run runs went into an sbatch call (alone or in a group job),
    only the no-op target `all` ran on the submitting host, and every submitted SLURM job
    is in the cluster's job log, completed, in this run's directory."""
    work, stderr, _ = runs["slurm"]
    calls = re.findall(r"^sbatch call: (sbatch .*)$", stderr, re.M)
    assert calls, "no sbatch call in the verbose output"
    submitted = set()
    for call in calls:
        assert re.search(r" -p \S+", call) and " --mem " in call and " -t " in call, call
        assert "--gpus" not in call, "device is not cuda: no GPU request"
        rules = re.search(r"--allowed-rules ((?:\w+ )+)", call)
        assert rules, call
        submitted |= set(rules.group(1).split())
    ran_locally = _rules_run(runs["local"][1]) - {"all"}
    assert submitted == ran_locally
    assert _rules_run(stderr, "localrule") == {"all"}

    job_ids = re.findall(r"has been submitted with SLURM jobid (\d+)", stderr)
    assert len(job_ids) == len(calls)
    states = {}  # this run's jobs (its directory) in the job log, the last entry per id
    for line in cluster.read_text().splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        if fields.get("WorkDir") == str(work):
            states[fields["JobId"]] = fields["JobState"]
    assert states == dict.fromkeys(job_ids, "COMPLETED")


def test_slurm_results_equal_local_results(runs):
    local, slurm = runs["local"][0], runs["slurm"][0]
    names = sorted(
        str(path.relative_to(local)) for pattern in SAME_BYTES for path in local.glob(pattern)
    )
    # every registered figure, as PDF and PNG
    figures = [n for n in names if n.startswith("paper/build/figures/")]
    assert len(figures) == 2 * len(FIGURES)
    assert "results/derivations/claims.csv" in names
    differ = [name for name in names if (local / name).read_bytes() != (slurm / name).read_bytes()]
    assert differ == []


def test_slurm_training_data_equal_local(runs):
    local, slurm = runs["local"][0], runs["slurm"][0]
    files = sorted(path.relative_to(local) for path in local.glob("results/train/**/*.parquet"))
    assert files == sorted(Path(job.path) for job in grid.expand(_smoke_config()))
    assert files == sorted(
        path.relative_to(slurm) for path in slurm.glob("results/train/**/*.parquet")
    )
    for name in files:
        assert pd.read_parquet(local / name).equals(pd.read_parquet(slurm / name)), name


def test_wall_times(runs, capsys):
    """Print the two runs' wall times (each SLURM job starts a nested snakemake, and the
    executor polls squeue with a growing interval: seconds per job)."""
    local, slurm = runs["local"][2], runs["slurm"][2]
    jobs = len(re.findall(r"^sbatch call: ", runs["slurm"][1], re.M))
    with capsys.disabled():
        print(
            f"\nsmoke workflow: local {local:.0f} s, SLURM {slurm:.0f} s "
            f"({jobs} SLURM jobs, {slurm / local:.1f}x the local time)"
        )
    assert slurm > 0 and local > 0
