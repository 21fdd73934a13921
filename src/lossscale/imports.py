"""The package's source files a workflow script runs: its ``lossscale`` imports, followed.

A rule's ``code`` input is :func:`script_code` of its script, so that editing a module
reruns exactly the jobs whose scripts import it (directly, through other modules, or
inside a function), and a new import needs no hand-kept list. Imports are read from the
source with :mod:`ast`; nothing is imported. The registries name what they load as
``"module:attribute"`` strings (:func:`load`); such a string in a module's source counts
as an import of that module.
"""

from __future__ import annotations

import ast
import importlib
import re
from functools import cache
from pathlib import Path
from typing import Any

PACKAGE = "lossscale"
#: A registry's reference to what it loads: ``lossscale.<module>:<attribute>``.
_REFERENCE = re.compile(rf"({PACKAGE}(?:\.\w+)*):\w+")


def load(reference: str) -> Any:
    """The object a ``"module:attribute"`` reference names (imports the module)."""
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


#: ``src/``, the directory that holds the package.
SRC = Path(__file__).resolve().parents[1]


def module_file(name: str) -> Path | None:
    """The source file of module ``name`` (a package's ``__init__.py``), None if none."""
    base = SRC.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


@cache
def _imported(path: Path) -> tuple[str, ...]:
    """The ``lossscale`` modules the file at ``path`` imports (``from m import x`` gives
    ``m.x`` where that is a module, else ``m``)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = [f"{node.module}.{alias.name}" for alias in node.names]
            names += [node.module] + [s for s in subs if module_file(s) is not None]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            reference = _REFERENCE.fullmatch(node.value)
            names += [reference.group(1)] if reference else []
    return tuple(n for n in names if n == PACKAGE or n.startswith(PACKAGE + "."))


def _with_parents(name: str) -> list[str]:
    """``a.b.c`` and the packages importing it runs first: ``a``, ``a.b``."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def script_code(script: str | Path) -> list[Path]:
    """Every package source file that running ``script`` imports, sorted."""
    return _closure(_imported(Path(script).resolve()), str(script))


def module_code(name: str) -> list[Path]:
    """Every package source file that importing module ``name`` runs, sorted."""
    return _closure((name,), name)


def _closure(names: tuple[str, ...], what: str) -> list[Path]:
    seen: set[Path] = set()
    todo = list(names)
    while todo:
        for name in _with_parents(todo.pop()):
            path = module_file(name)
            if path is None:
                raise ImportError(f"{what}: imports {name!r}, which has no source file")
            if path not in seen:
                seen.add(path)
                todo.extend(_imported(path))
    return sorted(seen)
