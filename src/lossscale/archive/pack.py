"""Pack a run into a byte-reproducible tarball, and unpack one."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import zlib
from pathlib import Path

from lossscale.archive.errors import ArchiveError
from lossscale.archive.manifest import (
    CONFIG_MEMBER,
    MANIFEST,
    REQUIRED,
    RUNTIME_LIST,
    collect,
    config_hash_of,
    is_runtime_dependent,
    manifest_text,
    sha256,
    short_commit,
)


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
