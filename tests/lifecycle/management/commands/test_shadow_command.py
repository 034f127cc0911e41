"""manage.py shadow start|stop|status."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from cases.models import AuditEvent
from lifecycle.models import ShadowDeployment
from tests.lifecycle.conftest import CANDIDATE_NAME, CANDIDATE_VERSION

pytestmark = pytest.mark.django_db
REF = f"{CANDIDATE_NAME}@{CANDIDATE_VERSION}"


def run(*args: str) -> str:
    out = StringIO()
    call_command("shadow", *args, stdout=out)
    return out.getvalue()


def test_start_status_stop_from_the_command_line(random_model, candidate):
    assert "no shadow run" in run("status")
    assert "on new brain_mri cases" in run("start", REF, "--note", "from the CLI")
    deployment = ShadowDeployment.objects.get()
    assert deployment.note == "from the CLI"
    assert AuditEvent.objects.get(action="shadow.started").source == "cli"
    listing = run("status")
    assert str(deployment.pk) in listing and "running" in listing and "done 0" in listing
    one = run("status", str(deployment.pk))
    assert "0 compared" in one and "accuracy" not in one  # nothing to compare yet
    assert "stopped" in run("stop", REF)
    assert "stopped" in run("stop", str(deployment.pk))  # idempotent
    assert AuditEvent.objects.filter(action="shadow.stopped").count() == 1


def test_refusals_are_command_errors(random_model, candidate):
    with pytest.raises(CommandError, match="is active"):
        run("start", str(random_model))
    with pytest.raises(CommandError, match="no registered model"):
        run("start", "nope@1")
    with pytest.raises(CommandError, match="no shadow run"):
        run("stop", "42")
