"""Imports go one way: ``inference`` and ``results`` may import ``cases``, ``cases`` never imports them.

Read from the source (every module of the app, imports inside functions
included), so the rule holds for code no test happens to run.
"""

from __future__ import annotations

import ast
from pathlib import Path

CASES = Path(__file__).resolve().parents[2] / "cases"


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_cases_never_imports_inference_or_results():
    offenders = {
        str(path.relative_to(CASES.parent)): sorted(
            m for m in _imported_modules(path) if m.split(".")[0] in ("inference", "results")
        )
        for path in sorted(CASES.rglob("*.py"))
    }
    assert {path: mods for path, mods in offenders.items() if mods} == {}


def test_the_walk_reads_the_app():
    assert len(list(CASES.rglob("*.py"))) > 30  # models, services, views, migrations: the whole app
    assert "cases.models" in _imported_modules(CASES / "services" / "review.py")
