"""Fault injection: what a study meets, and what each stage does with it.

Hostile config values in every key of the schema (generated, see ``fault_cases``);
damaged, truncated and foreign files in every place the workflow reads; a full disk and a
read-only results folder; a run killed at several points. Every case ends in a non-zero
exit with a message naming the key or the file, or in a clean recovery where recovery is
right, and none leaves a file under a final name that is not complete."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tarfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
from conftest import SMOKE, run_workflow, workflow_command
from fault_cases import (
    SCHEMA,
    name_cases,
    name_keys,
    numeric_cases,
    numeric_keys,
    unknown_key_cases,
)

from lossscale.config import ConfigError, validate_config
from lossscale.figures import available_figures, figure_inputs
from lossscale.study import selections
from lossscale.study.grid import check_size, expand


def _plan(config: dict) -> None:
    """What the workflow does with a config before any job: validate, bound, expand, and
    work out the magnitude pairs and each figure's inputs."""
    config = validate_config(config, SCHEMA)
    check_size(config)
    expand(config)
    selections.magnitude_pairs(config["tasks"])
    tables = dict.fromkeys(("comparisons", "knee", "phase", "phase_boundaries"), "x.csv")
    for name in available_figures(config):
        figure_inputs(name, config, tables)


def _by_key(cases):
    keys = {}
    for case in cases:
        keys.setdefault(case.key, []).append(case)
    return pytest.mark.parametrize("cases", list(keys.values()), ids=list(keys))


@_by_key(numeric_cases())
def test_a_hostile_number_is_refused_naming_its_key_or_planned(cases):
    """Non-finite, negative, zero, huge and wrongly typed values of one numeric key:
    refused with the key in the message unless the schema declares the value allowed;
    an allowed value plans in bounded time (or is refused naming the key)."""
    for case in cases:
        start = time.perf_counter()
        expected_ok = fault_allowed(case)
        try:
            _plan(case.config())
        except ConfigError as err:
            message = str(err)
            assert case.named in message or case.named.rsplit(".", 1)[0] in message, (
                case.label,
                message,
            )
            assert not (expected_ok and case.named not in message), (case.label, message)
        else:
            assert expected_ok, f"{case.key} = {case.value!r} ({case.label}) was accepted"
        assert time.perf_counter() - start < 5, f"{case.key} ({case.label}) took too long"


def fault_allowed(case) -> bool:
    from fault_cases import allowed

    return allowed(case.value, case.schema)


@pytest.mark.parametrize("case", name_cases(), ids=lambda c: c.key)
def test_an_unknown_name_is_refused_naming_its_key(case):
    with pytest.raises(ConfigError) as err:
        _plan(case.config())
    assert case.named in str(err.value) and "no_such_name" in str(err.value)
    assert "allowed:" in str(err.value)


@pytest.mark.parametrize("case", unknown_key_cases(), ids=lambda c: c.key)
def test_an_unknown_key_is_refused_naming_it(case):
    with pytest.raises(ConfigError) as err:
        _plan(case.config())
    assert case.named in str(err.value), str(err.value)


def _declared(predicate) -> set[str]:
    """The names of the properties anywhere in the schema (also in $defs and the
    optimizers' sections) whose schema, or whose items' schema, satisfies ``predicate``."""
    found = set()

    def walk(node):
        if isinstance(node, dict):
            for name, sub in node.get("properties", {}).items():
                items = sub.get("items") if isinstance(sub.get("items"), dict) else {}
                if predicate(sub) or predicate(items):
                    found.add(name)
            for sub in node.values():
                walk(sub)
        elif isinstance(node, list):
            for sub in node:
                walk(sub)

    walk(SCHEMA)
    return found


def _numeric(schema: dict) -> bool:
    kind = schema.get("type", [])
    return bool({*([kind] if isinstance(kind, str) else kind)} & {"number", "integer"})


def _named(schema: dict) -> bool:
    values = [*schema.get("enum", []), schema.get("const")]
    return "x-names" in schema or any(isinstance(v, str) for v in values)


@pytest.mark.parametrize(
    ("predicate", "generated"),
    [(_numeric, numeric_keys), (_named, name_keys)],
    ids=["numeric", "names"],
)
def test_the_generated_cases_cover_every_such_key_of_the_schema(predicate, generated):
    """Every numeric and every name-valued property the schema declares anywhere is among
    the generated keys: a key added to the schema gets its hostile values without a test
    edit."""
    declared = _declared(predicate)
    keys = {key.rsplit(".", 1)[-1].removesuffix("[]") for key in generated()}
    assert declared - keys == set()
    assert len(declared) > 15


def test_every_count_in_the_schema_has_a_maximum():
    """An integer key without a maximum lets a typo (steps: 10**12) through validation;
    each has one (the grid's own size is bounded by limits, see below)."""
    unbounded = [
        key
        for key, (_, _, schema) in numeric_keys().items()
        if "number" not in schema.get("type", [])
        and "maximum" not in schema
        and not key.startswith("limits.")
    ]
    assert unbounded == []


# --- damaged, truncated and foreign files where the workflow reads ----------------------

GARBAGE = b"\x00\xff\x13 this is not a result file \xfe\n" * 20


def _truncate(path: Path) -> None:
    """Cut the file short in the middle of a record (as a full disk or a killed copy
    does; a cut exactly at a line end cannot be told from a shorter table)."""
    data = path.read_bytes()
    cut = len(data) // 2
    while data[cut - 1 : cut] == b"\n":
        cut -= 1
    path.write_bytes(data[:cut])


def _garbage(path: Path) -> None:
    path.write_bytes(GARBAGE)


def _foreign(path: Path) -> None:
    """A well-formed file of the same kind that is not this workflow's."""
    if path.suffix == ".parquet":
        pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).to_parquet(path)
    elif path.suffix == ".csv":
        path.write_text("a,b\n1,2\n")
    elif path.suffix == ".json":
        path.write_text("[1, 2, 3]\n")
    elif path.suffix == ".tsv":
        path.write_text("a\tb\n1\t2\n")
    else:
        torch.save({"weights": torch.zeros(3)}, path)


DAMAGES = {"truncated": _truncate, "garbage": _garbage, "foreign": _foreign}


def complete(path: Path) -> bool:
    """Whether a result file is whole: it parses as what its name says."""
    data = path.read_bytes()
    if path.suffix == ".parquet":
        pq.read_table(path)
    elif path.suffix in (".csv", ".tsv"):
        pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",")
    elif path.suffix == ".json":
        json.loads(data)
    elif path.suffix == ".pdf":
        return data.startswith(b"%PDF") and data.rstrip().endswith(b"%%EOF")
    elif path.suffix == ".png":
        return data.startswith(b"\x89PNG") and data.endswith(b"IEND\xaeB`\x82")
    elif path.suffix == ".pt":
        torch.load(path, weights_only=True)
    return True


def assert_all_complete(work: Path, skip: Path | None = None) -> None:
    """No file under a final name in results/ or paper/build/ is incomplete (the
    damaged file itself aside)."""
    for folder in ("results", "paper/build"):
        for path in sorted((work / folder).rglob("*")):
            if path.is_file() and path != skip and not path.name.endswith(".part"):
                try:
                    assert complete(path), path
                except Exception as err:
                    raise AssertionError(f"{path} is not complete: {err}") from None


def same_table(a: Path, b: Path) -> bool:
    """Two training tables hold the same data (their metadata names the commit, which a
    working copy being edited during the tests marks dirty)."""
    return pd.read_parquet(a).equals(pd.read_parquet(b))  # NaN where NaN counts as equal


def logs_text(work: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in (work / "logs").rglob("*.log"))


@pytest.fixture
def run_copy(smoke, tmp_path):
    """A copy of the finished smoke run: files, mtimes and Snakemake's metadata."""
    work, _ = smoke
    copy = tmp_path / "run"
    shutil.copytree(work, copy, symlinks=True)
    return copy


TRAIN_TABLE = "results/train/diabetes/adam/float32/full-20.parquet"
READ_FILES = (
    TRAIN_TABLE,  # read by the statistics and the figures
    "results/stats/comparisons.csv",  # read by the figures and the report context
    "results/derivations/claims.csv",  # read by the report context
    "results/derivations/symbolic.json",  # read by the report context
    "results/report/context.json",  # read by the paper's rendering
    "results/runtime/summary.json",  # read by provenance and the runtime fragment
)


@pytest.mark.slow
@pytest.mark.parametrize("damage", sorted(DAMAGES))
@pytest.mark.parametrize("name", READ_FILES)
def test_a_damaged_result_stops_its_reader_naming_the_file(run_copy, name, damage):
    target = run_copy / name
    DAMAGES[damage](target)
    result = run_workflow(run_copy, SMOKE, timeout=600)
    assert result.returncode != 0
    assert name in result.stderr, result.stderr[-3000:]
    assert f"{name}: cannot be read as" in logs_text(run_copy)  # the job's own log says why
    assert_all_complete(run_copy, skip=target)


@pytest.mark.slow
def test_forcing_a_damaged_result_to_be_made_again_recovers_it(smoke, run_copy):
    """The error's way out: `--forcerun <file>` (make paper FORCE=<file>) makes the file
    again, the same bytes (training tables are deterministic), and the paper after it."""
    work, _ = smoke
    target = run_copy / TRAIN_TABLE
    _truncate(target)
    failed = run_workflow(run_copy, SMOKE, timeout=600)
    assert failed.returncode != 0 and f"--forcerun {TRAIN_TABLE}" in failed.stderr
    result = run_workflow(run_copy, SMOKE, timeout=900, extra=["--forcerun", TRAIN_TABLE])
    assert result.returncode == 0, result.stderr[-3000:]
    assert same_table(target, work / TRAIN_TABLE)
    stats = "results/stats/comparisons.csv"
    assert (run_copy / stats).read_bytes() == (work / stats).read_bytes()
    assert_all_complete(run_copy)


@pytest.mark.slow
@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_checkpoint_is_reported_and_the_cell_trains_from_the_start(
    smoke, run_copy, damage
):
    """A checkpoint that cannot be used never fails its job and is never trusted: the
    job warns in its log and trains from step 0 to the same table."""
    work, _ = smoke
    checkpoint = run_copy / TRAIN_TABLE.replace("results/train", "results/checkpoints").replace(
        ".parquet", ".pt"
    )
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    if damage == "truncated":  # a real checkpoint of this cell, cut short
        torch.save(
            {"format": 1, "fingerprint": "x", "state": {"rows": list(range(9999))}}, checkpoint
        )
    DAMAGES[damage](checkpoint)
    # make the cell's table again (the target, forced): its job finds the checkpoint
    result = run_workflow(
        run_copy, SMOKE, timeout=900, extra=[TRAIN_TABLE, "--forcerun", TRAIN_TABLE]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    log = (run_copy / "logs/train_cell/diabetes/adam/float32/full-20.log").read_text()
    assert f"ignoring checkpoint {checkpoint.relative_to(run_copy)}" in log
    assert "training starts from step 0" in log
    assert same_table(run_copy / TRAIN_TABLE, work / TRAIN_TABLE)
    assert not checkpoint.exists()  # removed once the table is written


def _lone_run(tiny_task, **kwargs):
    from lossscale.train.engine import train_stacked

    hyper = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8}
    return train_stacked(tiny_task, [0, 1], [1.0, 1e3], "adam", hyper, 12, **kwargs)


@pytest.mark.parametrize(
    "saved",
    [
        {"fingerprint": "run", "state": {}},  # no format: another version
        {"format": 0, "fingerprint": "run", "state": {}},  # an older format
        {"format": 1, "fingerprint": "run", "state": "not a state"},
        # the right fingerprint, a state of another shape (never trusted, never fatal)
        {
            "format": 1,
            "fingerprint": "run",
            "state": {
                "params": [torch.zeros(1)],
                "optimizer": {},
                "scaler": None,
                "diverged": torch.zeros(2, dtype=torch.bool),
                "rows": {},
                "recorded": [],
                "next_step": 5,
            },
        },
        [1, 2, 3],  # a torch file that is not a checkpoint
    ],
    ids=["no-format", "old-format", "no-state", "wrong-shapes", "a-list"],
)
def test_an_unusable_checkpoint_is_ignored_and_the_run_equals_a_fresh_one(
    tiny_task, tmp_path, caplog, saved
):
    ckpt = tmp_path / "cell.pt"
    torch.save(saved, ckpt)
    with caplog.at_level("WARNING", logger="lossscale"):
        run = _lone_run(tiny_task, checkpoint=ckpt, checkpoint_every=0, fingerprint="run")
    assert f"ignoring checkpoint {ckpt}" in caplog.text
    fresh = _lone_run(tiny_task)
    for column, values in fresh.columns.items():
        np.testing.assert_array_equal(run.columns[column], values, err_msg=column)
    for a, b in zip(run.params, fresh.params, strict=True):
        assert torch.equal(a, b)


def test_a_checkpoint_of_other_training_code_is_not_resumed(monkeypatch):
    """The fingerprint covers the training code: an edit to it starts runs over."""
    from lossscale.train import checkpoint

    spec = {"task": "diabetes", "steps": 10}
    before = checkpoint.fingerprint(spec)
    monkeypatch.setattr(checkpoint, "code_hash", lambda: "0" * 64)
    assert checkpoint.fingerprint(spec) != before


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_claims_file_is_refused_naming_it(root, tmp_path, damage):
    from lossscale.derivations.claims import ClaimsFileError, load_ledger

    claims = tmp_path / "claims"
    shutil.copytree(root / "src/lossscale/derivations/claims", claims)
    target = sorted(claims.glob("*.yaml"))[0]
    if damage == "foreign":
        target.write_text("name: a YAML file of something else\nitems: [1, 2]\n")
    else:
        DAMAGES[damage](target)
    with pytest.raises(ClaimsFileError) as err:
        load_ledger(claims)
    assert str(target) in str(err.value), str(err.value)


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_archive_is_refused_naming_it(tmp_path, capsys, damage):
    from lossscale import archive

    path = tmp_path / "lossscale-0000000-0000000000.tar.gz"
    other = tmp_path / "other"
    (other / "notes").mkdir(parents=True)
    (other / "notes/readme.txt").write_text("not a run\n")
    with tarfile.open(path, "w:gz") as tar:
        tar.add(other, arcname="other")
    if damage != "foreign":
        DAMAGES[damage](path)
    assert archive.main(["verify", str(path), "--manifest-only"]) != 0
    assert str(path) in capsys.readouterr().err


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_benchmark_file_is_refused_naming_it(tmp_path, damage):
    from lossscale.io import ResultFileError
    from lossscale.runtime import read_benchmark

    path = tmp_path / "job.tsv"
    path.write_text("s\th:m:s\tmax_rss\tcpu_time\n1.5\t0:00:01\t100.0\t1.2\n")
    DAMAGES[damage](path)
    with pytest.raises(ResultFileError, match=f"{path}: cannot be read as"):
        read_benchmark(path)


# --- a full disk, a read-only results folder ---------------------------------------------


@pytest.fixture
def mounted(run_copy):
    """Mount small tmpfs file systems over folders of the copied run (as root); unmount
    them whatever the test does."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.fail("the disk fault cases mount a tmpfs: run them as root (CI does)")
    points: list[Path] = []

    def mount(folder: str, size: str, read_only: bool = False) -> Path:
        point = run_copy / folder
        keep = run_copy / f"{folder}.saved"
        shutil.copytree(point, keep)  # the folder's files, put back on the tmpfs
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", point], check=True)
        points.append(point)
        if read_only:
            shutil.copytree(keep, point, dirs_exist_ok=True)
            subprocess.run(["mount", "-o", "remount,ro", point], check=True)
        return point

    yield mount
    for point in reversed(points):
        subprocess.run(["umount", point], check=False)


@pytest.mark.slow
def test_a_full_disk_fails_the_job_whose_log_says_so(run_copy, mounted):
    """Figures written onto a full disk: the job fails, its own log carries the error,
    no figure is left half-written, and a rerun with room recovers."""
    figures = mounted("results/figures", "16k")
    result = run_workflow(run_copy, SMOKE, timeout=600, extra=["--forcerun", "plot_figure"])
    assert result.returncode != 0
    assert "No space left on device" in result.stderr
    plot_logs = [p.read_text() for p in (run_copy / "logs").glob("plot_*.log")]
    assert any("No space left on device" in text for text in plot_logs), plot_logs
    for path in figures.iterdir():
        assert path.name.endswith(".part") or complete(path), path
    subprocess.run(["umount", figures], check=True)
    result = run_workflow(run_copy, SMOKE, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_all_complete(run_copy)


@pytest.mark.slow
def test_a_read_only_results_folder_fails_naming_it(run_copy, mounted):
    stats = mounted("results/stats", "4m", read_only=True)
    result = run_workflow(run_copy, SMOKE, timeout=600, extra=["--forcerun", "compare_alphas"])
    assert result.returncode != 0
    # Snakemake refuses before the job, naming the file; or the job's write fails
    refused = "Write-protected output files" in result.stderr
    assert refused or "Read-only file system" in result.stderr, result.stderr[-2000:]
    assert "results/stats/" in result.stderr
    assert_all_complete(run_copy)
    subprocess.run(["umount", stats], check=True)
    result = run_workflow(run_copy, SMOKE, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]


# --- a run killed at several points --------------------------------------------------------

KILL_POINTS = {
    "training": "results/train/**/*.parquet",  # the first training table is written
    "statistics": "results/stats/comparisons.csv",
    "rendering": "results/report/context.json",
}


def _run_until(work: Path, pattern: str, timeout: float = 900) -> bool:
    """Start the smoke workflow in ``work`` and kill it (SIGKILL, the whole process group,
    jobs included) as soon as a file matching ``pattern`` exists; False if it ended
    first."""
    cmd = workflow_command(work, SMOKE)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if any(work.glob(pattern)):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.05)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return False


@pytest.mark.slow
def test_a_run_killed_at_several_points_resumes_to_the_same_results(smoke, tmp_path):
    """Killed during training, statistics and rendering: after each kill no file under a
    final name is incomplete; the next run is refused until `--unlock` (Snakemake's lock
    outlives a killed run), then picks up where it stopped; the finished run equals an
    uninterrupted one."""
    work, _ = smoke
    run = tmp_path / "run"
    run.mkdir()
    for point, pattern in KILL_POINTS.items():
        if (run / ".snakemake/locks").exists() and any((run / ".snakemake/locks").iterdir()):
            refused = run_workflow(run, SMOKE, timeout=300)
            assert refused.returncode != 0 and "--unlock" in refused.stderr, point
            unlock = run_workflow(run, SMOKE, timeout=300, extra=["--unlock"])
            assert unlock.returncode == 0, unlock.stderr[-2000:]
        assert _run_until(run, pattern), f"the run ended before {point}"
        assert_all_complete(run)
    run_workflow(run, SMOKE, timeout=300, extra=["--unlock"])
    result = run_workflow(run, SMOKE, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_all_complete(run)
    for table in sorted((work / "results/train").rglob("*.parquet")):
        rel = table.relative_to(work)
        assert same_table(run / rel, table), rel
    for table in sorted((work / "results/stats").glob("*.csv")):
        rel = table.relative_to(work)
        assert (run / rel).read_bytes() == table.read_bytes(), rel
    assert not list(run.rglob("*.part"))  # the killed jobs' temporaries are gone


def test_make_grid_refuses_a_grid_beyond_the_limits_with_the_sizes(tmp_path, capsys):
    from lossscale.train import plan

    config = tmp_path / "typo.yaml"
    config.write_text("train: {seeds: 900000}\n")
    start = time.perf_counter()
    assert plan.main([str(config)]) == 2
    err = capsys.readouterr().err
    assert "limits.replicas: the blocks ask for" in err and "seeds 900,000" in err
    assert "set limits.replicas in the config" in err
    assert time.perf_counter() - start < 10
    config.write_text("train: {seeds: 900000}\nlimits: {replicas: 10000000000}\n")
    assert plan.main([str(config)]) == 2  # replicas allowed; replica-steps still bound
    assert "limits.replica_steps" in capsys.readouterr().err


def test_a_training_table_of_another_cell_is_refused_naming_it(smoke, tmp_path):
    """A well-formed table copied to another cell's path (a foreign file no column check
    can catch) is refused: the cell its rows hold is not the one its path names."""
    from lossscale.io import ResultFileError
    from lossscale.stats.load import read_final

    work, _ = smoke
    other = tmp_path / "results/train/diabetes/sgd/float32/full-20.parquet"
    other.parent.mkdir(parents=True)
    shutil.copy(work / TRAIN_TABLE, other)  # adam's table where sgd's belongs
    with pytest.raises(ResultFileError, match=f"{other}: cannot be read as the training table"):
        read_final([other])
    assert len(read_final([work / TRAIN_TABLE])) > 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the config file is empty"),
        ("train: {seeds: 3\n  steps: [\n", "not a YAML config file"),
        ("tasks: {diabetes: {target_scale: 1.0e-5}}\n", "tasks.diabetes.kind: missing"),
        ("train: {blocks: {main: {optimizers: [adam]}}}\n", "train.blocks.main.tasks: missing"),
    ],
    ids=["empty", "not-yaml", "task-without-kind", "block-without-tasks"],
)
def test_make_grid_refuses_a_broken_config_file_naming_it(tmp_path, capsys, text, message):
    from lossscale.train import plan

    config = tmp_path / "broken.yaml"
    config.write_text(text)
    assert plan.main([str(config), "--replace"]) == 2  # on its own, not merged
    assert message in capsys.readouterr().err
