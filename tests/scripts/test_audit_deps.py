"""scripts/audit_deps.py: fails on a vulnerability with a fix, notes one without, never passes blind."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("audit_deps", REPO / "scripts" / "audit_deps.py")
assert _spec is not None and _spec.loader is not None
audit_deps = importlib.util.module_from_spec(_spec)
sys.modules["audit_deps"] = audit_deps  # its dataclasses look their module up
_spec.loader.exec_module(audit_deps)


def _dep(name, version, *vulns, skip=None):
    if skip:
        return {"name": name, "skip_reason": skip}
    return {
        "name": name,
        "version": version,
        "vulns": [
            {"id": vid, "fix_versions": fixes, "aliases": [], "description": ""} for vid, fixes in vulns
        ],
    }


def test_classify_sorts_fixable_unfixed_and_skipped():
    report = {
        "dependencies": [
            _dep("django", "5.2.1", ("PYSEC-1", ["5.2.2"]), ("GHSA-x", [])),
            _dep("pillow", "13.0.0"),
            _dep(
                "oncoportal", None, skip="Dependency not found on PyPI and could not be audited: oncoportal"
            ),
            _dep("torch", None, skip="Dependency not found on PyPI and could not be audited: torch (2.14.1)"),
        ],
        "fixes": [],
    }
    found = audit_deps.classify(report)
    assert found.fixable == ["django 5.2.1: PYSEC-1 -> fixed in 5.2.2"]
    assert found.unfixed == ["django 5.2.1: GHSA-x (no fix yet)"]
    # Our own project is not on PyPI; any other package that could not be looked up is a gap.
    assert found.skipped == ["Dependency not found on PyPI and could not be audited: torch (2.14.1)"]
    assert found.audited == 2


def test_main_exit_status(monkeypatch, capsys):
    reports = {
        "probe": {"dependencies": [_dep("django", "3.2", ("PYSEC-2021-1", ["3.2.1"]))]},
        "env": {"dependencies": [_dep("pillow", "13.0.0", ("GHSA-y", ["13.0.1"]))]},
    }
    monkeypatch.setattr(
        audit_deps, "run_pip_audit", lambda args: reports["probe" if "--no-deps" in args else "env"]
    )
    assert audit_deps.main([]) == audit_deps.EXIT_VULNERABLE
    assert "pillow 13.0.0: GHSA-y -> fixed in 13.0.1" in capsys.readouterr().err
    # A vulnerability without a fixed release is a note, not a failure.
    reports["env"] = {"dependencies": [_dep("pillow", "13.0.0", ("GHSA-y", []))]}
    assert audit_deps.main([]) == audit_deps.EXIT_CLEAN
    assert "no fixed release yet: pillow 13.0.0: GHSA-y" in capsys.readouterr().out
    # A service that says nothing about a known-vulnerable release is not a clean audit.
    reports["probe"] = {"dependencies": [_dep("django", "3.2")]}
    assert audit_deps.main([]) == audit_deps.EXIT_UNAVAILABLE
    assert "did not answer for django==3.2" in capsys.readouterr().err
    assert audit_deps.main(["--unavailable", "note"]) == audit_deps.EXIT_CLEAN
    assert "NOT AUDITED" in capsys.readouterr().out


def test_an_unreachable_service_fails_with_one_line():
    """The real pip-audit, its HTTPS sent to a closed port: exit 2 and one reason, not a clean pass."""
    pytest.importorskip("pip_audit")
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "https_proxy", "http_proxy")}
    env.update(HTTPS_PROXY=f"http://127.0.0.1:{closed}")
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "audit_deps.py"), "--service", "pypi"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert result.returncode == audit_deps.EXIT_UNAVAILABLE, result.stdout + result.stderr
    assert result.stderr.startswith("audit: cannot audit dependencies: ")
    assert len(result.stderr.strip().splitlines()) == 1
