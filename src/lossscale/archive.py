"""The study as one citable, checkable file: provenance record, archive and its check.

``results/provenance.json`` (rule ``provenance``) says where a run came from. ``create``
packs the config, ``results/`` (without checkpoints) and ``paper/build/`` into
``lossscale-<commit>-<config hash>.tar.gz`` with a SHA-256 manifest; the tarball is
byte-identical for identical files (sorted members, fixed times and owners, gzip time 0).
``verify`` unpacks such an archive, checks the manifest, reruns the workflow from the
archived config in a fresh directory and compares file by file.

    python -m lossscale.archive create [--config config.yaml] [--output DIR]
    python -m lossscale.archive verify ARCHIVE [--manifest-only] [--cores N] [--keep]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from lossscale.config import ConfigError, config_hash, load_schema, validate_config
from lossscale.provenance import git_commit, package_versions

#: The repository this module belongs to (its Snakefile and config schema).
ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflow/schemas/config.schema.yaml"

MANIFEST = "MANIFEST.sha256"
RUNTIME_LIST = "RUNTIME_DEPENDENT.txt"
CONFIG_MEMBER = "config.yaml"

#: What goes into the archive besides the config: patterns relative to the run directory.
INCLUDE = (
    "results/**",
    "paper/build/paper.pdf",
    "paper/build/paper.tex",
    "paper/build/paper.md",
    "paper/build/refs.bib",
    "paper/build/runtime.*",
    "paper/build/figures/**",
)
#: Left out of ``results/``: interrupted jobs' state, removed when a job completes.
EXCLUDE = ("results/checkpoints/**",)
#: Files that depend on the clock or the machine (docs/results.md): they may differ
#: between two runs of the same config, so ``verify`` reports them apart.
RUNTIME_DEPENDENT = (
    "results/runtime/**",
    "results/provenance.json",
    "paper/build/runtime.*",
    "paper/build/paper.pdf",  # it includes runtime.tex
)
#: A run is complete when these exist (the workflow's final targets, PDF optional).
REQUIRED = ("results/provenance.json", "paper/build/paper.tex", "paper/build/paper.md")

_MANIFEST_LINE = re.compile(r"^([0-9a-f]{64})  (\S(?:.*\S)?)$")


class ArchiveError(Exception):
    """Bad input to create or verify (missing files, corrupt archive or manifest)."""


# --------------------------------------------------------------------------- provenance


def provenance_record(summary: dict[str, Any], config_hash: str, commit: str) -> dict[str, Any]:
    """``results/provenance.json``: commit, config hash, package and Python versions, and
    the run-time summary's date, hardware and per-rule wall times."""
    return {
        "commit": commit,
        "config_hash": config_hash,
        "packages": package_versions(),
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
        },
        "date": summary["date"],
        "hardware": summary["hardware"],
        "workflow_cores": summary["workflow_cores"],
        "rules": [
            {
                "rule": rule["rule"],
                "jobs": rule["jobs"],
                **{key: round(rule[key], 2) for key in ("wall_s", "max_wall_s", "cpu_s")},
            }
            for rule in summary["rules"]
        ],
        "total_wall_s": round(summary["total_wall_s"], 2),
    }


# ------------------------------------------------------------------------------ helpers


def _pattern(glob: str) -> re.Pattern[str]:
    """``glob`` as a regular expression: ``**`` any path, ``*`` any name part."""
    parts = re.split(r"(\*\*|\*)", glob)
    body = "".join({"**": ".*", "*": "[^/]*"}.get(part, re.escape(part)) for part in parts)
    return re.compile(body + r"\Z")


def _matches(path: str, patterns: Iterable[str]) -> bool:
    """Whether the POSIX path ``path`` matches one of the globs ``patterns``."""
    return any(_pattern(glob).match(path) for glob in patterns)


def is_runtime_dependent(path: str) -> bool:
    """Whether the archived file ``path`` may differ between runs of the same config."""
    return _matches(path, RUNTIME_DEPENDENT)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def collect(run_dir: Path) -> list[str]:
    """The run's files to archive (POSIX paths relative to ``run_dir``, sorted)."""
    found = []
    for top in ("results", "paper/build"):
        base = run_dir / top
        if not base.is_dir():
            continue
        for path in base.rglob("*"):
            if path.is_symlink() or not path.is_file():
                continue
            rel = path.relative_to(run_dir).as_posix()
            if rel.rsplit("/", 1)[-1].startswith(".") and rel.endswith(".part"):
                continue  # a job's temporary file (lossscale.io.atomic_path)
            if _matches(rel, INCLUDE) and not _matches(rel, EXCLUDE):
                found.append(rel)
    return sorted(found)


def manifest_text(digests: dict[str, str]) -> str:
    """``sha256sum`` format (``sha256sum -c MANIFEST.sha256`` checks an unpacked archive)."""
    return "".join(f"{digest}  {path}\n" for path, digest in sorted(digests.items()))


def parse_manifest(text: str) -> dict[str, str]:
    """Path -> SHA-256 from a manifest; ArchiveError naming the first bad line."""
    digests: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        match = _MANIFEST_LINE.match(line)
        if not match:
            raise ArchiveError(
                f"corrupt manifest: line {number} is not '<sha256>  <path>': {line[:80]!r}"
            )
        digest, path = match.groups()
        if path in digests:
            raise ArchiveError(f"corrupt manifest: line {number} repeats {path}")
        if path.startswith("/") or ".." in Path(path).parts:
            raise ArchiveError(f"corrupt manifest: line {number} has an unsafe path {path}")
        digests[path] = digest
    if not digests:
        raise ArchiveError("corrupt manifest: it lists no files")
    return digests


def config_hash_of(config_file: Path) -> str:
    """The hash the workflow gives ``config_file`` (validated, defaults filled in)."""
    try:
        raw = yaml.safe_load(config_file.read_text())
        config = validate_config(raw or {}, load_schema())
    except (OSError, yaml.YAMLError, ConfigError) as err:
        raise ArchiveError(f"{config_file}: not a valid lossscale config: {err}") from err
    return config_hash(config)


def short_commit(commit: str) -> str:
    """``0e48587`` from a full commit (``-dirty`` kept; ``unknown`` stays)."""
    if commit == "unknown":
        return commit
    full, dirty, _ = commit.partition("-dirty")
    return full[:7] + ("-dirty" if dirty else "")


# ------------------------------------------------------------------------------- create


def _tar_member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_archive(path: Path, prefix: str, members: dict[str, bytes | Path]) -> None:
    """A deterministic ``.tar.gz`` of ``members`` (archive path -> bytes or file) under the
    top folder ``prefix``, written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    try:
        with (
            open(tmp, "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for name in sorted(members):
                content = members[name]
                if isinstance(content, Path):
                    with open(content, "rb") as fh:
                        size = os.fstat(fh.fileno()).st_size
                        tar.addfile(_tar_member(f"{prefix}/{name}", size), fh)
                else:
                    tar.addfile(_tar_member(f"{prefix}/{name}", len(content)), io.BytesIO(content))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def create(run_dir: Path, config_file: Path, output_dir: Path) -> Path:
    """Archive the run in ``run_dir`` made from ``config_file``; return the archive's path."""
    run_dir, config_file = Path(run_dir), Path(config_file)
    if not config_file.is_file():
        raise ArchiveError(f"config file {config_file} not found")
    missing = [name for name in REQUIRED if not (run_dir / name).is_file()]
    if missing:
        raise ArchiveError(
            f"{run_dir.resolve()}: no complete run to archive (missing {', '.join(missing)}); "
            "run the workflow first (make paper)"
        )
    chash = config_hash_of(config_file)
    try:
        record = json.loads((run_dir / "results/provenance.json").read_text())
    except (OSError, ValueError) as err:
        raise ArchiveError(f"results/provenance.json: unreadable: {err}") from err
    if record.get("config_hash") != chash:
        raise ArchiveError(
            f"the results were made from config hash {record.get('config_hash')}, "
            f"but {config_file} has hash {chash}: pass the config the run used"
        )
    files = collect(run_dir)
    members: dict[str, bytes | Path] = {name: run_dir / name for name in files}
    members[CONFIG_MEMBER] = config_file.read_bytes()
    runtime = [name for name in files if is_runtime_dependent(name)]
    members[RUNTIME_LIST] = (
        "# Files that depend on the clock or the machine (docs/results.md): they may\n"
        "# differ between two runs of the same config. One path a line.\n"
        + "".join(f"{name}\n" for name in runtime)
    ).encode()
    digests = {
        name: sha256(c) if isinstance(c, Path) else hashlib.sha256(c).hexdigest()
        for name, c in members.items()
    }
    members[MANIFEST] = manifest_text(digests).encode()
    prefix = f"lossscale-{short_commit(str(record.get('commit', 'unknown')))}-{chash}"
    path = Path(output_dir) / f"{prefix}.tar.gz"
    write_archive(path, prefix, members)
    return path


# ------------------------------------------------------------------------------- verify


def unpack(archive: Path, into: Path) -> Path:
    """Extract ``archive`` into ``into``; return its top folder. ArchiveError when the
    file is missing, not a gzipped tar, or holds anything but regular files in one
    top folder."""
    archive = Path(archive)
    if not archive.is_file():
        raise ArchiveError(f"archive {archive} not found")
    try:
        with gzip.open(archive, "rb") as stream:  # the whole stream: checks gzip's CRC
            while stream.read(1 << 20):
                pass
        with tarfile.open(archive, mode="r:gz") as tar:
            members = tar.getmembers()
            tops = {Path(m.name).parts[0] for m in members if m.name}
            if len(tops) != 1:
                raise ArchiveError(f"{archive}: expected one top folder, found {sorted(tops)}")
            for member in members:
                if not (member.isfile() or member.isdir()):
                    raise ArchiveError(f"{archive}: {member.name} is not a regular file")
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise ArchiveError(f"{archive}: not a readable .tar.gz ({err})") from err
    return into / tops.pop()


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
        top = unpack(Path(archive), scratch / "archive")
        digests = check_manifest(top)
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


# ---------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lossscale.archive", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("create", help="archive the run in --run-dir")
    make.add_argument(
        "--config", type=Path, default=Path("config.yaml"), help="the config the run used"
    )
    make.add_argument(
        "--run-dir", type=Path, default=Path("."), help="holds results/ and paper/build/"
    )
    make.add_argument("--output", type=Path, default=Path("."), help="folder for the archive")
    check = sub.add_parser("verify", help="check an archive and rerun its config")
    check.add_argument("archive", help="the .tar.gz written by create")
    check.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    check.add_argument("--manifest-only", action="store_true", help="only check the manifest")
    check.add_argument(
        "--keep", action="store_true", help="keep the unpacked archive and the rerun"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "create":
            path = create(args.run_dir, args.config, args.output)
            print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)")
            return 0
        if not args.archive:
            raise ArchiveError(
                "no archive given (make verify ARCHIVE=path/to/lossscale-....tar.gz)"
            )
        return 0 if verify(Path(args.archive), args.cores, args.manifest_only, args.keep) else 1
    except ArchiveError as err:
        print(f"lossscale.archive: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
