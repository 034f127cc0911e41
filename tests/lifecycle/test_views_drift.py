"""The Drift tab: Curators only; the build button queues a reference on the inference queue."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cases.models import AuditEvent
from lifecycle.models import DriftReference
from oncoportal import celery_config

pytestmark = pytest.mark.django_db


def test_readers_get_the_403_page(client, reviewer, radiologist, random_model, mocker):
    send = mocker.patch("lifecycle.services.drift.current_app.send_task")
    for user in (reviewer, radiologist):
        client.force_login(user)
        assert client.get(reverse("lifecycle:drift")).status_code == 403
        build = reverse("lifecycle:drift_reference_build", args=[random_model.pk])
        assert client.post(build).status_code == 403
    send.assert_not_called()


def test_a_task_without_reference_says_so_and_offers_the_build(client, curator, random_model):
    client.force_login(curator)
    page = client.get(reverse("lifecycle:drift")).content.decode()
    assert 'data-status="no_reference"' in page
    assert reverse("lifecycle:drift_reference_build", args=[random_model.pk]) in page
    assert "drift-banner" not in page


def test_the_build_button_queues_the_task_after_commit(
    client, curator, brain_model, mocker, django_capture_on_commit_callbacks
):
    send = mocker.patch("lifecycle.services.drift.current_app.send_task")
    client.force_login(curator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("lifecycle:drift_reference_build", args=[brain_model.pk]))
    assert response.status_code == 302 and response.url == reverse("lifecycle:drift")
    send.assert_called_once_with(celery_config.BUILD_DRIFT_REFERENCE, args=[brain_model.pk, None, curator.pk])
    assert AuditEvent.objects.filter(action="drift_reference.requested", actor=curator).exists()
    assert celery_config.TASKS[celery_config.BUILD_DRIFT_REFERENCE].queue == celery_config.BACKGROUND


def test_a_build_that_cannot_succeed_is_refused_at_once(
    client, curator, random_model, mocker, settings, tmp_path
):
    send = mocker.patch("lifecycle.services.drift.current_app.send_task")
    settings.DATA_DIR = tmp_path  # the random test model has no training data anywhere
    client.force_login(curator)
    response = client.post(reverse("lifecycle:drift_reference_build", args=[random_model.pk]), follow=True)
    assert "no validation images to build a reference from" in response.content.decode()
    send.assert_not_called()
    assert not DriftReference.objects.exists()
    assert client.post(reverse("lifecycle:drift_reference_build", args=[987654])).status_code == 404
