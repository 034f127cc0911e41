"""No two modules of the core import each other, directly or round a loop.

A cycle works only while every import in it happens to run in a safe order
(or is tucked into a function); the next edit breaks it. Imports inside
functions count too: they are how cycles hide.
"""

from __future__ import annotations

import ast
from pathlib import Path

from .conftest import REPO

PACKAGE = "oncocore"


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")


def _imports_of(path: Path, name: str) -> set[str]:
    """The core modules that ``path`` (module ``name``) imports, anywhere in its body."""
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            # `from . import x` and `from .pkg import mod` may name modules, not attributes.
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {m for m in found if m == PACKAGE or m.startswith(PACKAGE + ".")}


def import_graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in (REPO / PACKAGE).rglob("*.py")}
    graph = {}
    for name, path in paths.items():
        # A package's __init__ re-exporting its own modules is not a cycle worth flagging.
        targets = {t for t in _imports_of(path, name) if t in paths and t != name}
        graph[name] = {t for t in targets if not name.startswith(t + ".")}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_core_has_no_import_cycle():
    graph = import_graph()
    assert "oncocore.training.data" in graph["oncocore.training.train"]  # the walk sees relative imports
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def test_find_cycle_sees_a_loop_through_a_function_level_import(tmp_path):
    # The detector itself: a lazy import inside a function is still an edge.
    module = tmp_path / "mod.py"
    module.write_text("def f():\n    from .other import g\n", encoding="utf-8")
    assert _imports_of(module, "oncocore.training.mod") == {
        "oncocore.training.other",
        "oncocore.training.other.g",
    }
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
