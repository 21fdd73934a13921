"""Determinism, fault tolerance and the HTML report of the whole workflow (issue #7).

Every test uses a config derived from the smoke config with longer training (so that a
training job runs long enough to be killed in the middle) in fresh directories: one
uninterrupted reference run serves all three tests.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
import yaml
from conftest import ROOT, run_workflow, workflow_command

from lossscale import archive
from lossscale.figures import FIGURES

pytestmark = pytest.mark.slow

#: The smoke config's training, long enough that a job saves several checkpoints.
LONG_TRAIN = {"steps": 1000, "record_every": 50, "checkpoint_every": 100}


def _run(workdir: Path, configfile: Path, *extra: str) -> None:
    result = run_workflow(workdir, configfile, extra=list(extra))
    assert result.returncode == 0, result.stderr[-4000:]


def _outputs(workdir: Path) -> dict[str, str]:
    """SHA-256 of each result file and paper source that should not depend on the run,
    keyed by path relative to ``workdir``: what an archive holds (checkpoints and
    temporary ``*.part`` files left out) less what it declares run-time dependent
    (timings, the provenance record, the runtime fragment and the PDF that includes it)."""
    return {
        name: archive.sha256(workdir / name)
        for name in archive.collect(workdir)
        if not archive.is_runtime_dependent(name)
    }


def _parquet_difference(a: Path, b: Path) -> str:
    """Where two parquet files differ: their data, or which metadata keys."""
    ta, tb = pq.read_table(a), pq.read_table(b)
    if not ta.equals(tb):
        return "data differ"
    ma, mb = ta.schema.metadata or {}, tb.schema.metadata or {}
    keys = sorted(k.decode() for k in ma.keys() | mb.keys() if ma.get(k) != mb.get(k))
    return f"same data, metadata keys {keys} differ" if keys else "same table, other bytes"


def _differences(got: Path, expected: Path, only: set[str] | None = None) -> list[str]:
    """The deterministic files (of ``only``, default all) that are missing, extra or
    differ between two work directories, each with a reason."""
    a, b = _outputs(got), _outputs(expected)
    names = (a.keys() | b.keys()) if only is None else only
    problems = []
    for name in sorted(names):
        if name not in a:
            problems.append(f"{name}: only in {expected}")
        elif name not in b:
            problems.append(f"{name}: only in {got}")
        elif a[name] != b[name]:
            why = "bytes differ"
            if name.endswith(".parquet"):
                why = _parquet_difference(got / name, expected / name)
                if "commit" in why:
                    why += " (was the working tree changed between the runs?)"
            problems.append(f"{name}: {why}")
    return problems


@pytest.fixture(scope="module")
def long_config(tmp_path_factory) -> Path:
    """The smoke config with :data:`LONG_TRAIN`."""
    config = yaml.safe_load((ROOT / "workflow/configs/smoke.yaml").read_text())
    config["train"].update(LONG_TRAIN)
    path = tmp_path_factory.mktemp("config") / "long.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def reference(long_config, tmp_path_factory) -> Path:
    """One uninterrupted run of the long config in a fresh directory."""
    work = tmp_path_factory.mktemp("reference")
    _run(work, long_config)
    return work


def test_two_fresh_runs_give_identical_files(reference, long_config, tmp_path):
    """Every result file, the paper's sources and its figures are byte-identical between
    two runs in two directories, the second with one cell per training job instead of
    the default's several; parquet files included (their provenance metadata names the
    commit, so the working tree must not change in between)."""
    _run(tmp_path, long_config, "--config", "cells_per_job=1")
    assert len(list((tmp_path / "results/runtime/train_batch").glob("*.tsv"))) > len(
        list((reference / "results/runtime/train_batch").glob("*.tsv"))
    )
    outputs = _outputs(reference)
    assert any(name.endswith(".parquet") for name in outputs)
    assert {"paper/build/paper.tex", "paper/build/supplement.md"} <= outputs.keys()
    assert sum(name.startswith("paper/build/figures/") for name in outputs) == 2 * len(FIGURES)
    problems = _differences(tmp_path, reference)
    assert not problems, "files differ between two runs:\n" + "\n".join(problems)


def _kill_during_training(workdir: Path, configfile: Path, timeout: float = 600) -> list[Path]:
    """Start the workflow in its own process group; SIGKILL the whole group as soon as a
    training checkpoint exists. Return the checkpoints present after the kill."""
    checkpoints = workdir / "results/checkpoints"
    with open(workdir.parent / f"{workdir.name}-killed.log", "w") as log:
        proc = subprocess.Popen(
            workflow_command(workdir, configfile),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + timeout
            while not list(checkpoints.rglob("*.pt")):
                assert proc.poll() is None, f"the workflow ended (rc {proc.returncode}) first"
                assert time.monotonic() < deadline, "no checkpoint appeared in time"
                time.sleep(0.02)
        finally:
            with contextlib.suppress(ProcessLookupError):  # the group may have ended
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # until every job of the group has gone
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    return sorted(checkpoints.rglob("*.pt"))


def test_a_killed_run_resumes_to_the_uninterrupted_result(reference, long_config, tmp_path):
    """SIGKILL the workflow (Snakemake and its jobs) in the middle of training: no file
    under its final name is partial. Then do what a user would: ``snakemake --unlock``
    (the kill leaves Snakemake's lock behind) and the same command again, which reruns
    the incomplete jobs (``--rerun-incomplete``, set in profiles/default) and resumes the
    interrupted training from its checkpoint: every result equals the uninterrupted
    run's, byte for byte."""
    killed = _kill_during_training(tmp_path, long_config)
    assert killed, "the kill should leave a training job's checkpoint"
    cells = [c.relative_to(tmp_path / "results/checkpoints").with_suffix("") for c in killed]
    for checkpoint, cell in zip(killed, cells, strict=True):
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
        assert {"fingerprint", "state"} <= saved.keys(), checkpoint
        assert 0 < saved["state"]["next_step"] < LONG_TRAIN["steps"], checkpoint
        assert not (tmp_path / f"results/train/{cell}.parquet").exists(), cell
    # whatever exists under a final name is complete: equal to the reference's file
    written = set(_outputs(tmp_path))
    for name in written:
        if name.endswith(".parquet"):
            pq.read_table(tmp_path / name)  # readable, at least
    problems = _differences(tmp_path, reference, only=written)
    assert not problems, "partial files after the kill:\n" + "\n".join(problems)
    orphans = set(tmp_path.rglob("*.part"))  # an interrupted atomic write's temporary

    _run(tmp_path, long_config, "--unlock")
    _run(tmp_path, long_config)
    for cell in cells:
        log = (tmp_path / f"logs/train_cell/{cell}.log").read_text()
        assert "resuming from" in log, f"{cell} did not resume from its checkpoint"
    assert not list((tmp_path / "results/checkpoints").rglob("*.pt"))
    assert set(tmp_path.rglob("*.part")) <= orphans
    problems = _differences(tmp_path, reference)
    assert not problems, "the resumed run differs:\n" + "\n".join(problems)


def test_html_report_shows_the_figures(reference, long_config):
    """``snakemake --report`` embeds every figure registered with ``report()``, under the
    category Figures."""
    html_path = reference / "report.html"
    _run(reference, long_config, "--report", str(html_path))
    html = html_path.read_text()
    assert len(html) > 200_000
    assert '"Figures"' in html
    for name in FIGURES:
        entry = re.search(rf'"results/figures/{name}\.(pdf|png)": \{{[^{{}}]*"mime_type"', html)
        assert entry, f"figure {name} is not in the report"
    embedded = re.findall(r"data:(application/pdf|image/png|image/svg\+xml);", html)
    assert len(embedded) >= len(FIGURES)
