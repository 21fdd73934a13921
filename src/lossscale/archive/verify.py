"""Check an archive: its manifest, then a rerun of its config compared file by file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from lossscale.archive.errors import ArchiveError
from lossscale.archive.manifest import (
    CONFIG_MEMBER,
    MANIFEST,
    RUNTIME_LIST,
    collect,
    is_runtime_dependent,
    parse_manifest,
    sha256,
)
from lossscale.archive.pack import unpack
from lossscale.provenance import git_commit

#: The repository this module belongs to (its Snakefile reruns an archived config).
ROOT = Path(__file__).resolve().parents[3]


def check_manifest(top: Path) -> dict[str, str]:
    """The manifest of the unpacked archive ``top``; ArchiveError when a file is missing,
    unlisted or has another SHA-256 than listed."""
    manifest = top / MANIFEST
    if not manifest.is_file():
        raise ArchiveError(f"{top.name}: no {MANIFEST} in the archive")
    digests = parse_manifest(manifest.read_text(errors="replace"))
    present = {p.relative_to(top).as_posix() for p in top.rglob("*") if p.is_file()} - {MANIFEST}
    problems = [f"missing: {p}" for p in sorted(set(digests) - present)]
    problems += [f"not in the manifest: {p}" for p in sorted(present - set(digests))]
    problems += [
        f"changed (SHA-256 differs from the manifest): {p}"
        for p in sorted(set(digests) & present)
        if sha256(top / p) != digests[p]
    ]
    if problems:
        raise ArchiveError("archive damaged:\n  " + "\n  ".join(problems))
    return digests


def workflow_command(
    workdir: Path, config_file: Path, cores: int, extra: Sequence[str] = ()
) -> list[str]:
    """The command that runs this repository's workflow on ``config_file`` (on its own,
    not merged into config.yaml) in ``workdir``; ``extra``: more arguments."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(config_file),
        "--replace-workflow-config",
        f"--cores={cores}",
        *extra,
    ]


def rerun(config_file: Path, workdir: Path, cores: int, log: Path) -> None:
    """Run this repository's workflow on ``config_file`` in the empty ``workdir``."""
    cmd = workflow_command(workdir, config_file, cores)
    with open(log, "w") as out:
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(True)[-30:])
        raise ArchiveError(f"the rerun failed (exit {done.returncode}); end of {log}:\n{tail}")


def compare(digests: dict[str, str], workdir: Path) -> dict[str, str]:
    """Per archived result file: ``match``, ``differ`` or ``missing`` in ``workdir``."""
    status = {}
    for path, digest in sorted(digests.items()):
        if path in (CONFIG_MEMBER, RUNTIME_LIST):
            continue
        target = workdir / path
        if not target.is_file():
            status[path] = "missing"
        else:
            status[path] = "match" if sha256(target) == digest else "differ"
    return status


def report(status: dict[str, str], runtime: set[str], extra: list[str]) -> tuple[str, bool]:
    """The verification report and whether every file that should match does."""
    lines, ok = [], True
    for title, group in (
        ("results (must match)", [p for p in status if p not in runtime]),
        ("run-time dependent (may differ)", [p for p in status if p in runtime]),
    ):
        counts = {s: sum(status[p] == s for p in group) for s in ("match", "differ", "missing")}
        lines.append(f"{title}: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
        lines += [f"  {status[p]:7s} {p}" for p in group if status[p] != "match"]
    bad = [p for p in status if p not in runtime and status[p] != "match"]
    ok = not bad
    if extra:
        lines.append(f"written by the rerun but not in the archive: {len(extra)}")
        lines += [f"  new     {p}" for p in extra]
    lines.append(
        "verified: every result file matches"
        if ok
        else f"NOT verified: {len(bad)} result file(s) differ or are missing"
    )
    return "\n".join(lines), ok


def verify(archive: Path, cores: int, manifest_only: bool = False, keep: bool = False) -> bool:
    """Check ``archive`` (see the module docstring); print the report; True when it holds."""
    scratch = Path(tempfile.mkdtemp(prefix="lossscale-verify-"))
    try:
        try:
            top = unpack(Path(archive), scratch / "archive")
            digests = check_manifest(top)
        except ArchiveError as err:  # say which file, as the other errors do
            if str(archive) in str(err):
                raise
            raise ArchiveError(f"{archive}: {err}") from None
        print(f"{Path(archive).name}: manifest OK ({len(digests)} files)")
        if manifest_only:
            return True
        if CONFIG_MEMBER not in digests:
            raise ArchiveError(f"{top.name}: no {CONFIG_MEMBER} in the archive")
        listed = (top / RUNTIME_LIST).read_text() if (top / RUNTIME_LIST).is_file() else ""
        runtime = {line for line in listed.splitlines() if line and not line.startswith("#")} | {
            p for p in digests if is_runtime_dependent(p)
        }
        record = {}
        if (top / "results/provenance.json").is_file():
            record = json.loads((top / "results/provenance.json").read_text())
        here = git_commit(ROOT)
        if record.get("commit", "unknown") != here:
            print(
                f"note: archive made at commit {record.get('commit', 'unknown')}, rerun at "
                f"{here}: files that name the commit (results/report/context.json, "
                "paper/build/paper.*) will differ"
            )
        workdir = scratch / "rerun"
        workdir.mkdir()
        print(f"rerunning the workflow on the archived config in {workdir} ({cores} cores)")
        start = time.monotonic()
        rerun(top / CONFIG_MEMBER, workdir, cores, scratch / "rerun.log")
        print(f"rerun took {time.monotonic() - start:.0f} s")
        status = compare(digests, workdir)
        extra = sorted(set(collect(workdir)) - set(digests))
        text, ok = report(status, runtime, extra)
        print(text)
        return ok
    finally:
        if keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
