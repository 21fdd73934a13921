"""`make archive` / `make verify` (lossscale.archive): members, manifest, determinism,
tamper detection, bad input, and a verify round trip on the smoke config."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tarfile
import time

import pytest

from lossscale import archive
from lossscale.archive import ArchiveError
from lossscale.provenance import provenance_record

SMOKE = "workflow/configs/smoke.yaml"

#: The synthetic run: archived files and what they hold.
ARCHIVED = {
    "results/train/diabetes/adam/float32.parquet": b"PAR1 not really",
    "results/stats/comparisons.csv": b"quantity,alpha\ntest,1.0\n",
    "results/report/context.json": b"{}\n",
    "results/runtime/summary.json": b'{"date": "today"}\n',
    "results/runtime/train_cell/diabetes/adam/float32.tsv": b"s\tmax_rss\tcpu_time\n1\t2\t3\n",
    "paper/build/paper.tex": b"\\documentclass{article}\n",
    "paper/build/paper.md": b"# paper\n",
    "paper/build/paper.pdf": b"%PDF-1.5\n",
    "paper/build/supplement.tex": b"\\documentclass{article}\n",
    "paper/build/supplement.md": b"# supplement\n",
    "paper/build/supplement.pdf": b"%PDF-1.5 runtime\n",
    "paper/build/refs.bib": b"@misc{x}\n",
    "paper/build/runtime.tex": b"took 1 s\n",
    "paper/build/runtime.md": b"took 1 s\n",
    "paper/build/figures/alpha_sweep.png": bytes(range(256)) * 4,
}
#: Present in the run but left out of the archive.
LEFT_OUT = {
    "results/checkpoints/diabetes/adam/float32.pt": b"state",
    "results/stats/.comparisons.csv.abc.part": b"half-written",
    "paper/build/paper.aux": b"latex leftovers",
}
RUNTIME = {
    "results/provenance.json",
    "results/runtime/summary.json",
    "results/runtime/train_cell/diabetes/adam/float32.tsv",
    "paper/build/supplement.pdf",
    "paper/build/runtime.tex",
    "paper/build/runtime.md",
}
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def run_dir(root, tmp_path):
    """A synthetic complete run of the smoke config."""
    run = tmp_path / "run"
    for name, content in {**ARCHIVED, **LEFT_OUT}.items():
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_bytes(content)
    record = {"commit": COMMIT, "config_hash": archive.config_hash_of(root / SMOKE)}
    (run / "results/provenance.json").write_text(json.dumps(record))
    return run


def _create(root, run_dir, out):
    return archive.create(run_dir, root / SMOKE, out)


def _members(path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name.split("/", 1)[1]: tar.extractfile(m).read() for m in tar.getmembers()}


def test_the_archive_holds_config_results_paper_and_manifest(root, run_dir, tmp_path):
    path = _create(root, run_dir, tmp_path / "out")
    config_hash = archive.config_hash_of(root / SMOKE)
    assert path.name == f"lossscale-0123456-{config_hash}.tar.gz"
    members = _members(path)
    expected = {
        *ARCHIVED,
        "results/provenance.json",
        "config.yaml",
        "MANIFEST.sha256",
        "RUNTIME_DEPENDENT.txt",
    }
    assert set(members) == expected
    assert members["config.yaml"] == (root / SMOKE).read_bytes()
    with tarfile.open(path) as tar:
        names = tar.getnames()
        assert names == sorted(names)
        assert {n.split("/")[0] for n in names} == {path.name.removesuffix(".tar.gz")}
        for info in tar.getmembers():
            assert info.isfile()
            assert (info.mtime, info.uid, info.gid, info.uname, info.gname) == (0, 0, 0, "", "")
            assert info.mode == 0o644


def test_the_manifest_lists_every_member_with_its_sha256(root, run_dir, tmp_path):
    members = _members(_create(root, run_dir, tmp_path / "out"))
    manifest = archive.parse_manifest(members["MANIFEST.sha256"].decode())
    assert set(manifest) == set(members) - {"MANIFEST.sha256"}
    for name, digest in manifest.items():
        assert hashlib.sha256(members[name]).hexdigest() == digest
    # sha256sum's format: "<hex>  <path>", sorted by path
    lines = members["MANIFEST.sha256"].decode().splitlines()
    assert lines == sorted(lines, key=lambda line: line.split("  ", 1)[1])
    listed = members["RUNTIME_DEPENDENT.txt"].decode().splitlines()
    assert {line for line in listed if not line.startswith("#")} == RUNTIME


def test_two_archives_of_the_same_tree_are_byte_identical(root, run_dir, tmp_path):
    first = _create(root, run_dir, tmp_path / "a").read_bytes()
    # other times and permissions, same contents
    for path in run_dir.rglob("*"):
        if path.is_file():
            os.utime(path, (time.time() + 3600, time.time() + 3600))
            path.chmod(0o600)
    second = _create(root, run_dir, tmp_path / "b").read_bytes()
    assert first == second
    assert first[4:8] == b"\0\0\0\0"  # gzip header mtime
    assert gzip.decompress(first)  # a valid gzip stream
    (run_dir / "paper/build/paper.md").write_bytes(b"# other paper\n")
    assert _create(root, run_dir, tmp_path / "c").read_bytes() != first


def test_runtime_dependent_files_are_the_documented_ones():
    assert archive.is_runtime_dependent("results/runtime/plot_figure/alpha_sweep.tsv")
    assert archive.is_runtime_dependent("paper/build/runtime.md")
    assert not archive.is_runtime_dependent("paper/build/runtime/other.md")
    assert not archive.is_runtime_dependent("results/report/context.json")
    assert not archive.is_runtime_dependent("paper/build/paper.tex")


def test_manifest_only_verify_accepts_an_intact_archive(root, run_dir, tmp_path, capsys):
    path = _create(root, run_dir, tmp_path / "out")
    assert archive.main(["verify", str(path), "--manifest-only"]) == 0
    assert "manifest OK (18 files)" in capsys.readouterr().out


def _repack(path, change):
    """Rewrite the archive at ``path`` with ``change(members)`` applied to its contents,
    keeping its manifest."""
    members = _members(path)
    change(members)
    archive.write_archive(path, path.name.removesuffix(".tar.gz"), members)


def test_a_changed_byte_is_reported(root, run_dir, tmp_path, capsys):
    path = _create(root, run_dir, tmp_path / "out")

    def flip(members):
        data = bytearray(members["results/stats/comparisons.csv"])
        data[0] ^= 1
        members["results/stats/comparisons.csv"] = bytes(data)

    _repack(path, flip)
    assert archive.main(["verify", str(path), "--manifest-only"]) == 2
    err = capsys.readouterr().err
    assert "changed (SHA-256 differs from the manifest): results/stats/comparisons.csv" in err


def test_a_missing_or_unlisted_member_is_reported(root, run_dir, tmp_path, capsys):
    path = _create(root, run_dir, tmp_path / "out")

    def swap(members):
        members.pop("paper/build/paper.md")
        members["results/extra.csv"] = b"x\n"

    _repack(path, swap)
    assert archive.main(["verify", str(path), "--manifest-only"]) == 2
    err = capsys.readouterr().err
    assert "missing: paper/build/paper.md" in err
    assert "not in the manifest: results/extra.csv" in err


def test_a_corrupt_archive_file_is_a_clear_error(root, run_dir, tmp_path, capsys):
    path = _create(root, run_dir, tmp_path / "out")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert archive.main(["verify", str(path), "--manifest-only"]) == 2
    assert "not a readable .tar.gz" in capsys.readouterr().err


@pytest.mark.parametrize(
    "manifest",
    [b"not a manifest\n", b"", b"abc  results/x\n"],
    ids=["garbage", "empty", "short-digest"],
)
def test_a_corrupt_manifest_is_a_clear_error(root, run_dir, tmp_path, capsys, manifest):
    path = _create(root, run_dir, tmp_path / "out")
    _repack(path, lambda members: members.update({"MANIFEST.sha256": manifest}))
    assert archive.main(["verify", str(path), "--manifest-only"]) == 2
    assert "corrupt manifest" in capsys.readouterr().err


def test_bad_input_is_a_clear_error(root, run_dir, tmp_path, capsys):
    assert archive.main(["verify", str(tmp_path / "nope.tar.gz")]) == 2
    assert "nope.tar.gz not found" in capsys.readouterr().err
    assert archive.main(["verify", ""]) == 2
    assert "make verify ARCHIVE=" in capsys.readouterr().err
    (run_dir / "paper/build/paper.tex").unlink()
    assert archive.main(["create", "--run-dir", str(run_dir), "--config", SMOKE]) == 2
    assert "missing paper/build/paper.tex" in capsys.readouterr().err


def test_create_refuses_a_config_other_than_the_runs(root, run_dir, tmp_path):
    with pytest.raises(ArchiveError, match="pass the config the run used"):
        archive.create(run_dir, root / "config.yaml", tmp_path / "out")


def test_the_provenance_record_has_versions_hardware_and_times():
    summary = {
        "date": "2026-01-01 00:00 UTC",
        "hardware": {"cpu": "x", "cores": 2, "memory_gib": 1.0, "system": "Linux", "gpu": None},
        "workflow_cores": 2,
        "rules": [
            {
                "rule": "train_cell",
                "jobs": 2,
                "wall_s": 1.23456,
                "max_wall_s": 1.0,
                "cpu_s": 2.0,
                "max_rss_mb": 9.0,
            }
        ],
        "total_wall_s": 1.23456,
    }
    record = provenance_record(summary, "abc", COMMIT)
    assert record["commit"] == COMMIT
    assert record["config_hash"] == "abc"
    assert record["packages"]["lossscale"] != "not installed"
    assert record["python"]["version"].startswith("3.11")
    assert record["hardware"] == summary["hardware"]
    assert record["rules"] == [
        {"rule": "train_cell", "jobs": 2, "wall_s": 1.23, "max_wall_s": 1.0, "cpu_s": 2.0}
    ]


@pytest.mark.slow
def test_verify_round_trip_on_the_smoke_run(root, smoke, tmp_path, capsys):
    """Archive the shared smoke run, verify the archive (a second run in a fresh
    directory): every file that is not run-time dependent matches."""
    run, _ = smoke
    record = json.loads((run / "results/provenance.json").read_text())
    assert record["config_hash"] == archive.config_hash_of(root / SMOKE)
    assert {r["rule"] for r in record["rules"]} >= {"train_batch", "check_claims"}
    path = archive.create(run, root / SMOKE, tmp_path)
    start = time.monotonic()
    code = archive.main(["verify", str(path), "--cores", "2"])
    out = capsys.readouterr().out
    with capsys.disabled():
        size = path.stat().st_size / 2**20
        print(f"\nsmoke archive {size:.2f} MiB, verify {time.monotonic() - start:.0f} s")
    assert code == 0, out
    assert "results (must match): " in out
    must_match = next(line for line in out.splitlines() if line.startswith("results (must"))
    assert must_match.endswith("0 differ, 0 missing"), out
    assert "verified: every result file matches" in out
