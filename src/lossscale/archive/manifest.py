"""What an archive holds and its SHA-256 manifest."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

import yaml

from lossscale.archive.errors import ArchiveError
from lossscale.config import ConfigError, config_hash, load_schema, validate_config

MANIFEST = "MANIFEST.sha256"
RUNTIME_LIST = "RUNTIME_DEPENDENT.txt"
CONFIG_MEMBER = "config.yaml"

#: What goes into the archive besides the config: patterns relative to the run directory.
INCLUDE = (
    "results/**",
    "paper/build/paper.pdf",
    "paper/build/paper.tex",
    "paper/build/paper.md",
    "paper/build/supplement.pdf",
    "paper/build/supplement.tex",
    "paper/build/supplement.md",
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
    "paper/build/supplement.pdf",  # it includes runtime.tex
)
#: A run is complete when these exist (the workflow's final targets, PDF optional).
REQUIRED = (
    "results/provenance.json",
    "paper/build/paper.tex",
    "paper/build/paper.md",
    "paper/build/supplement.tex",
    "paper/build/supplement.md",
)

_MANIFEST_LINE = re.compile(r"^([0-9a-f]{64})  (\S(?:.*\S)?)$")


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
