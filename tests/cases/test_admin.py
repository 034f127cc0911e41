"""The Django admin for dataset curation: every model registered, history read-only."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from cases.models import AuditEvent, Case, Image, IntakeBatch, Patient, Review, Series, Site, Study, User
from inference.models import ModelVersion, Prediction

pytestmark = pytest.mark.django_db


def test_every_model_is_registered():
    for model in (
        Site,
        User,
        Patient,
        Study,
        Series,
        Image,
        Case,
        AuditEvent,
        IntakeBatch,
        Review,
        ModelVersion,
        Prediction,
    ):
        assert admin.site.is_registered(model), model


def test_curator_browses_and_history_is_read_only(client, curator, ct_case):
    curator.is_superuser = True  # the admin's own permission checks are not what is tested here
    curator.save()
    client.force_login(curator)
    for model in (Case, Image, Study, AuditEvent, IntakeBatch, Patient, Review, ModelVersion, Prediction):
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert client.get(url).status_code == 200, url
    event = AuditEvent.objects.first()
    assert client.get(reverse("admin:cases_auditevent_add")).status_code == 403
    assert (
        client.post(reverse("admin:cases_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().update(action="tampered")
    image = Image.objects.first()
    assert (
        client.post(reverse("admin:cases_image_delete", args=[image.pk]), {"post": "yes"}).status_code == 403
    )


def test_radiologist_has_no_admin(client, radiologist):
    client.force_login(radiologist)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_admin_case_change_is_audited(client, curator, ct_case):
    curator.is_superuser = True
    curator.save()
    client.force_login(curator)
    url = reverse("admin:cases_case_change", args=[ct_case.pk])
    response = client.post(
        url, {"task": "lung_ct", "priority": 2, "assignee": "", "flag_reason": "", "flagged": ""}
    )
    assert response.status_code == 302, response.content[:2000]
    ct_case.refresh_from_db()
    assert ct_case.task == "lung_ct" and ct_case.priority == 2
    assert AuditEvent.objects.filter(action="case.admin_changed", object_id=str(ct_case.pk)).exists()


def _admin_post(client, case, fields, **extra):
    data = {"task": case.task, "priority": case.priority, "assignee": "", "flag_reason": "", "flagged": ""}
    return client.post(reverse("admin:cases_case_change", args=[case.pk]), {**data, **fields}, **extra)


def test_curator_task_change_in_the_admin_requeues_like_the_case_page(
    client, curator, ct_case, random_model, mocker, django_capture_on_commit_callbacks
):
    # The Curator group's own permissions, not a superuser's.
    assert not curator.is_superuser and curator.has_perm("cases.change_case")
    Case.objects.filter(pk=ct_case.pk).update(ai_label="nodule", ai_confidence=0.9, ai_positive=True)
    delay = mocker.patch("inference.services.run_predictions.delay")
    client.force_login(curator)
    with django_capture_on_commit_callbacks(execute=True):
        response = _admin_post(client, ct_case, {"task": "brain_mri"}, HTTP_USER_AGENT="admin-browser")
    assert response.status_code == 302, response.content[:2000]
    ct_case.refresh_from_db()
    assert ct_case.task == "brain_mri" and not ct_case.task_inferred
    # The summary of the old task is cleared, and the brain model is queued for every image.
    assert (ct_case.ai_label, ct_case.ai_confidence, ct_case.ai_positive) == ("", None, False)
    queued = Prediction.objects.filter(image__case=ct_case, model_version=random_model)
    assert queued.count() == ct_case.images.count() == 1
    delay.assert_called_once_with([queued.get().pk])
    changed = AuditEvent.objects.get(action="case.task_changed", object_id=str(ct_case.pk))
    assert changed.detail == {"from": "unassigned", "to": "brain_mri"}
    assert (changed.source, changed.actor, changed.user_agent) == ("web", curator, "admin-browser")
    summary = AuditEvent.objects.get(action="case.admin_changed", object_id=str(ct_case.pk))
    assert summary.detail == {"fields": ["task"]} and summary.source == "web"


def test_curator_priority_and_flag_edits_go_through_the_service(client, curator, ct_case):
    client.force_login(curator)
    response = _admin_post(client, ct_case, {"priority": 2, "flagged": "on", "flag_reason": "burned-in name"})
    assert response.status_code == 302, response.content[:2000]
    ct_case.refresh_from_db()
    assert (ct_case.priority, ct_case.flagged, ct_case.flag_reason) == (2, True, "burned-in name")
    priority = AuditEvent.objects.get(action="case.priority_changed", object_id=str(ct_case.pk))
    assert priority.detail == {"from": 0, "to": 2} and priority.actor == curator
    summary = AuditEvent.objects.get(action="case.admin_changed", object_id=str(ct_case.pk))
    assert summary.detail == {"fields": ["flag_reason", "flagged", "priority"]}
    assert not AuditEvent.objects.filter(action="case.task_changed").exists()  # the task was not touched


def test_audit_trail_shows_and_filters_by_source(client, curator, site):
    from cases.services.audit import AuditContext, audit_record

    audit_record(action="intake.batch", site=site, audit=AuditContext.system(source="cli"))
    audit_record(action="case.viewed", site=site, audit=AuditContext(source="web", ip="10.0.0.9"))
    client.force_login(curator)
    url = reverse("admin:cases_auditevent_changelist")
    html = client.get(url).content.decode()
    assert "column-source" in html and "Command line" in html and "Web page" in html
    only_cli = client.get(url, {"source__exact": "cli"})
    assert [e.action for e in only_cli.context["cl"].result_list] == ["intake.batch"]
