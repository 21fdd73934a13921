"""A rule's code input: the package files its script imports, found without importing."""

from __future__ import annotations

from pathlib import Path

import pytest

from lossscale.imports import SRC, module_code, script_code

ROOT = Path(__file__).resolve().parents[1]
PKG = SRC / "lossscale"


def _names(paths: list[Path]) -> set[str]:
    return {str(p.relative_to(PKG)) for p in paths}


def test_a_stats_script_runs_the_stats_and_study_modules_only():
    code = _names(script_code(ROOT / "workflow/scripts/compare_alphas.py"))
    assert {"stats/paired.py", "stats/load.py", "study/cells.py", "tables.py"} <= code
    assert {"__init__.py", "stats/__init__.py"} <= code  # packages run their __init__
    assert not any(name.startswith(("train/", "report/", "figures/")) for name in code)


def test_imports_inside_functions_and_from_imports_of_modules_count(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("import os\n\ndef f():\n    from lossscale.stats import knee\n")
    code = _names(script_code(script))
    assert "stats/knee.py" in code and "stats/load.py" in code  # knee imports load


def test_a_figure_module_adds_its_own_imports():
    figure = _names(module_code("lossscale.figures.alpha_sweep"))
    assert "figures/common.py" in figure and "figures/alpha_sweep.py" in figure
    assert "figures/phase_diagram.py" not in figure


def test_an_import_without_source_names_it(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("from lossscale import nothing_here\nimport lossscale.nothing.at_all\n")
    with pytest.raises(ImportError, match=r"'lossscale\.nothing'"):
        script_code(script)


def test_a_registry_reference_counts_as_an_import(tmp_path):
    """``"module:attribute"`` strings (what the registries load) are dependencies; other
    strings, and references outside the package, are not."""
    script = tmp_path / "s.py"
    script.write_text(
        'BUILDERS = {"a": "lossscale.tasks.digits:digits_task", "b": "torch.optim:SGD"}\n'
        'TEXT = "see lossscale.stats.knee:knee_table for details"\n'
    )
    code = _names(script_code(script))
    assert "tasks/digits.py" in code and "tasks/packaged.py" in code
    assert "stats/knee.py" not in code
