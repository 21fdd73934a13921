"""The study as one citable, checkable file: the archive and its check.

``results/provenance.json`` (rule ``provenance``, :mod:`lossscale.provenance`) says
where a run came from. ``create``
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
import os
import sys
from pathlib import Path

from lossscale.archive.errors import ArchiveError
from lossscale.archive.manifest import (
    collect,
    config_hash_of,
    is_runtime_dependent,
    parse_manifest,
    sha256,
)
from lossscale.archive.pack import create, write_archive
from lossscale.archive.verify import verify, workflow_command

__all__ = [
    "ArchiveError",
    "collect",
    "config_hash_of",
    "create",
    "is_runtime_dependent",
    "main",
    "parse_manifest",
    "sha256",
    "verify",
    "workflow_command",
    "write_archive",
]


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
