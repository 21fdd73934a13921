"""The three dependency lists (pyproject, requirements.lock, environment.yml) agree."""

from __future__ import annotations

import re
import tomllib

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
