"""Schemathesis against a live server: generated calls to every operation, every check, no failure.

Schemathesis reads /api/v1/schema/ from the running server and sends a few
hundred calls, valid and invalid ones, with a Curator's token holding every
scope. Every response must be no 5xx and match the schema: status codes,
content types, headers and bodies (the error bodies included), bad input
rejected with a 4xx, good input accepted (except, for the few operations that
``schemathesis.toml`` names, a 400 whose rule depends on stored data or file
content, which no schema can state). Nothing is excluded: the PNG
endpoints are checked too (their `image/png` bodies only for status and
content type, which schemathesis does on its own).

Set ONCOPORTAL_SCHEMATHESIS_SEED to explore other inputs than the fixed seed's.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    # The live server answers from another thread: the seed data must be committed.
    # serialized_rollback puts back the rows migrations made (the role groups) for later tests.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

MIN_CALLS = 300
# Per-operation settings: which schema-valid calls may still be refused by a rule of the data.
CONFIG = Path(__file__).with_name("schemathesis.toml")
SEED = os.environ.get("ONCOPORTAL_SCHEMATHESIS_SEED", "20261118")


@pytest.fixture
def eager_tasks():
    """Tasks run inline, in the server's request thread: there is no worker here, and a call that
    waits for a result (score's ``wait``) gets it instead of waiting out its time."""
    from oncoportal.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def seeded(brain_case, random_model, eager_tasks):
    """A site with two brain MRI cases, a registered active model, and one case predicted."""
    from inference.models import Prediction
    from inference.services import prediction_request

    created = prediction_request(case=brain_case.first())  # runs on commit, inline
    assert [p.status for p in Prediction.objects.filter(pk__in=[p.pk for p in created])] == ["done"]
    return brain_case


def _operation_count(schema: dict) -> int:
    methods = {"get", "put", "post", "patch", "delete"}
    return sum(1 for item in schema["paths"].values() for method in item if method in methods)


def test_schemathesis_finds_nothing(live_server, seeded, curator, make_token, settings, tmp_path):
    from drf_spectacular.generators import SchemaGenerator

    # Schemathesis sends calls without or with broken credentials on purpose (the ignored_auth
    # check); the per-address lockout for failed sign-ins must not turn the good token away.
    settings.API_AUTH_FAILURES_PER_MINUTE = 1_000_000
    token = make_token(curator, "read,upload,review,admin", rate=100_000, name="schemathesis")
    operations = _operation_count(SchemaGenerator().get_schema(request=None, public=True))
    # Each operation gets this many fuzzed calls, plus the coverage phase's own.
    per_operation = max(10, math.ceil(MIN_CALLS / operations))
    report = tmp_path / "report.json"
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run", f"{live_server.url}/api/v1/schema/",
        "--checks", "all",
        "--header", f"Authorization: Bearer {token}",
        "--max-examples", str(per_operation),
        "--seed", SEED,
        "--workers", "1",  # SQLite: one writer at a time
        "--request-timeout", "60",
        "--generation-database", "none",
        "--report", "json", "--report-json-path", str(report),
        "--no-color",
    ]  # fmt: skip
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=1200)
    output = run.stdout + run.stderr
    assert report.exists(), output

    summary = json.loads(report.read_text())
    assert summary["complete"], output
    assert summary["operations"]["tested"] == summary["operations"]["selected"] == operations, output
    assert summary["operations"]["errored"] == 0, output
    assert summary["failures"] == [] and summary["errors"] == [], output
    assert summary["test_cases"]["with_failures"] == 0, output
    assert run.returncode == 0, output
    assert summary["test_cases"]["generated"] >= MIN_CALLS, output
