"""The Django-free core must import without Django, the apps or Celery (notebooks, GPU boxes).

Every module under ``oncocore/`` is found by walking the package, so a new
module is checked the day it is added, with no list to keep.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import oncocore

from .conftest import REPO

FORBIDDEN = ("django", "rest_framework", "celery", "kombu", "cases", "inference", "oncoportal")


def core_modules() -> list[str]:
    """Every importable module of the core package, found by walking it."""
    names = ["oncocore"]
    for info in pkgutil.walk_packages(oncocore.__path__, prefix="oncocore."):
        if info.name.endswith("__main__"):
            continue  # a command-line entry point runs on import; its package is checked
        names.append(info.name)
    return sorted(names)


def test_walk_finds_every_module():
    found = set(core_modules())
    on_disk = {
        ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for path in (REPO / "oncocore").rglob("*.py")
        if path.stem != "__main__"
    }
    assert on_disk <= found, sorted(on_disk - found)
    assert {"oncocore.nets", "oncocore.training.train", "oncocore.decode", "oncocore.imaging.deid"} <= found


def test_core_imports_without_django_apps_or_celery():
    modules = core_modules()
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {set(FORBIDDEN)!r})\n"
        "assert not bad, bad\n"
    )
    env = {"PATH": "", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
