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
