"""manage.py drift_reference: builds here with a progress bar, or queues for the worker; one-line errors."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from lifecycle.models import DriftReference
from oncoportal import celery_config

pytestmark = pytest.mark.django_db


def test_builds_the_reference_of_a_named_version(brain_model, data_dir):
    out = StringIO()
    call_command("drift_reference", str(brain_model), "--limit", "32", stdout=out, stderr=StringIO())
    assert DriftReference.objects.get(model_version=brain_model).n == 32
    assert f"{brain_model}: reference of 32 image(s) from data folder brain_mri" in out.getvalue()
    # --missing skips what has one.
    out = StringIO()
    call_command("drift_reference", "--active", "--missing", stdout=out, stderr=StringIO())
    assert out.getvalue() == ""


def test_queue_sends_each_active_lead_to_the_worker(brain_model, mocker, django_capture_on_commit_callbacks):
    send = mocker.patch("lifecycle.services.drift.current_app.send_task")
    with django_capture_on_commit_callbacks(execute=True):
        call_command("drift_reference", "--active", "--missing", "--queue", stdout=StringIO())
    send.assert_called_once_with(celery_config.BUILD_DRIFT_REFERENCE, args=[brain_model.pk, None, None])


def test_errors_are_one_line(random_model, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    with pytest.raises(CommandError) as failed:
        call_command("drift_reference", str(random_model), stdout=StringIO(), stderr=StringIO())
    assert "no validation images" in str(failed.value) and "\n" not in str(failed.value)
    with pytest.raises(CommandError, match="name a version"):
        call_command("drift_reference", stdout=StringIO())
    with pytest.raises(CommandError, match="no registered model"):
        call_command("drift_reference", "nope@1", stdout=StringIO())
