"""The three dependency lists (pyproject, requirements.lock, environment.yml) agree, and
the supported Pythons (3.11 to 3.13) are stated alike, picked by make and compile the code."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)==([^\s;]+)\s*", line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def test_pyproject_pins_match_lock_and_environment(root):
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    direct = _pins(project["dependencies"] + project["optional-dependencies"]["dev"])
    lock = _pins((root / "requirements.lock").read_text().splitlines())
    env = yaml.safe_load((root / "environment.yml").read_text())
    conda_pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert direct["torch"] == "2.13.0"
    assert len(direct) == len(project["dependencies"]) + len(
        project["optional-dependencies"]["dev"]
    )
    for name, version in direct.items():
        assert lock.get(name) == version, f"{name}: pyproject {version}, lock {lock.get(name)}"
    assert _pins(conda_pip) == lock


#: The Python versions lossscale supports, as pyproject.toml's requires-python states.
SUPPORTED = ("3.11", "3.12", "3.13")


def test_the_supported_pythons_are_stated_alike(root):
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11,<3.14"
    makefile = (root / "Makefile").read_text()
    assert "PYTHONS := python3.11 python3.12 python3.13 python3" in makefile
    assert "(3, 11) <= sys.version_info[:2] <= (3, 13)" in makefile
    assert "Python 3.11, 3.12 or 3.13" in (root / "README.md").read_text()


def _fake_pythons(folder: Path, good: tuple[str, ...], bad: tuple[str, ...]) -> str:
    """A PATH holding fake interpreters: ``good`` pass the Makefile's version check,
    ``bad`` fail it (a Python out of range, or a pyenv shim without that version)."""
    folder.mkdir()
    for name, code in [*((g, 0) for g in good), *((b, 1) for b in bad)]:
        script = folder / name
        script.write_text(f"#!/bin/sh\necho 'Python (fake {name})'\nexit {code}\n")
        script.chmod(0o755)
    return str(folder)  # nothing else: make and its shell are called by absolute paths


def _make(root: Path, tmp_path: Path, path: str, *args: str) -> subprocess.CompletedProcess:
    for name in ("Makefile", "pyproject.toml", "requirements.lock"):
        shutil.copy(root / name, tmp_path / name)
    env = {k: v for k, v in os.environ.items() if k != "PYTHON"} | {"PATH": path}
    return subprocess.run(
        [shutil.which("make"), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_make_picks_the_first_supported_python_on_the_path(root, tmp_path):
    path = _fake_pythons(tmp_path / "bin", good=("python3.13",), bad=("python3.12", "python3"))
    done = _make(root, tmp_path, path, "-n", "venv")
    assert done.returncode == 0, done.stderr
    assert "python3.13 -m venv .venv" in done.stdout


def test_make_without_a_supported_python_stops_with_the_range(root, tmp_path):
    path = _fake_pythons(tmp_path / "bin", good=(), bad=("python3.11", "python3"))
    done = _make(root, tmp_path, path, "venv")
    assert done.returncode != 0
    assert "no Python 3.11, 3.12 or 3.13 found on the PATH" in done.stderr
    assert not (tmp_path / ".venv").exists()


def _interpreter(version: str) -> str | None:
    """A working ``python<version>``: on the PATH, or installed by pyenv beside it."""
    found = shutil.which(f"python{version}")
    candidates = [found] if found else []
    candidates += sorted(
        glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}*/bin/python{version}"))
    )
    for candidate in candidates:
        done = subprocess.run([candidate, "-c", "pass"], capture_output=True)
        if done.returncode == 0:
            return candidate
    return None


@pytest.mark.parametrize("version", SUPPORTED)
def test_the_sources_compile_on_every_supported_python(root, version):
    """Every Python file of the project compiles, warnings as errors (3.12 turned invalid
    escape sequences into a SyntaxWarning), on each supported interpreter found here.
    The dependencies' wheels for 3.12 and 3.13 are checked against PyPI by hand (README)."""
    python = _interpreter(version)
    if python is None:
        pytest.skip(f"no Python {version} on this machine (PATH or ~/.pyenv)")
    files = [
        str(p)
        for d in ("src", "workflow/scripts", "tests", "benchmarks")
        for p in sorted((root / d).rglob("*.py"))
    ]
    check = "import sys\nfor f in sys.argv[1:]:\n    compile(open(f).read(), f, 'exec')"
    done = subprocess.run(
        [python, "-W", "error", "-c", check, *files], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(files) > 100
