"""Where a result came from: code version, package versions, device. No clocks, no hosts."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = (
    "lossscale",
    "torch",
    "numpy",
    "pandas",
    "pyarrow",
    "scipy",
    "statsmodels",
    "scikit-learn",
    "matplotlib",
    "seaborn",
    "jinja2",
    "snakemake",
)


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed version of each named distribution ("not installed" when absent)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit(root: str | Path = ".") -> str:
    """The commit checked out at ``root`` (suffixed ``-dirty`` when tracked files differ)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def content_hash(obj: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of ``obj`` (sorted keys, no whitespace)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


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
