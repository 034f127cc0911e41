"""ONCOPORTAL_REQUIRE_SERVICES=1 (CI) refuses to run the suite on anything but PostgreSQL.

Each case starts pytest in a fresh process (collection only: the check runs at session
start, before any test or database connection), with the environment CI or a developer
would have.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, database_engine_refusal

pytestmark = pytest.mark.slow

THIS = str(Path(__file__).relative_to(REPO))


def _pytest(tmp_path: Path, **env: str | None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "ONCOPORTAL_VAR_DIR": str(tmp_path)}
    for name, value in env.items():
        environment.pop(name, None)
        if value is not None:
            environment[name] = value
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", THIS],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_required_services_without_postgresql_fail_the_session(tmp_path):
    run = _pytest(tmp_path, ONCOPORTAL_REQUIRE_SERVICES="1", DATABASE_URL=None)
    output = run.stdout + run.stderr
    assert run.returncode == pytest.ExitCode.USAGE_ERROR, output
    assert "ONCOPORTAL_REQUIRE_SERVICES=1 needs PostgreSQL" in output
    assert "django.db.backends.sqlite3" in output and "DATABASE_URL" in output
    assert "test_required_services" not in output  # stopped before collecting a test


def test_required_services_on_postgresql_go_on(tmp_path):
    # CI's own setting (.ci/run); collection does not connect, so no server is needed here.
    run = _pytest(
        tmp_path,
        ONCOPORTAL_REQUIRE_SERVICES="1",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres",
    )
    assert run.returncode == pytest.ExitCode.OK, run.stdout + run.stderr
    assert "test_required_services_on_postgresql_go_on" in run.stdout


def test_a_local_run_may_use_sqlite(tmp_path):
    run = _pytest(tmp_path, ONCOPORTAL_REQUIRE_SERVICES=None, DATABASE_URL=None)
    assert run.returncode == pytest.ExitCode.OK, run.stdout + run.stderr


def test_the_refusal_names_the_engine_only_when_services_are_required(monkeypatch):
    monkeypatch.setattr("tests.conftest.REQUIRE_SERVICES", True)
    assert database_engine_refusal("django.db.backends.postgresql") is None
    assert "mysql" in (database_engine_refusal("django.db.backends.mysql") or "")
    monkeypatch.setattr("tests.conftest.REQUIRE_SERVICES", False)
    assert database_engine_refusal("django.db.backends.sqlite3") is None
