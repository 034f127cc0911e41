"""The model-version admin: weight edits and activate/retire go through the services, validated and audited."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.urls import reverse

from cases.models import AuditEvent
from inference.models import ModelVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def model_admin(make_user, site):
    """Staff with the model-version permissions only (not a superuser)."""
    user = make_user("mlops", None, site, is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="inference", codename__in=["view_modelversion", "change_modelversion"]
        )
    )
    return user


def test_weight_edit_is_validated_and_audited(client, model_admin, random_model):
    client.force_login(model_admin)
    url = reverse("admin:inference_modelversion_change", args=[random_model.pk])
    for bad in ("0", "-1", "nan", "inf", "heavy"):
        response = client.post(url, {"weight": bad})
        assert response.status_code == 200, bad  # the form again, with the error
        assert response.context["adminform"].form.errors["weight"], bad
    random_model.refresh_from_db()
    assert random_model.weight == 1.0
    assert not AuditEvent.objects.filter(action="model.weight_changed").exists()

    response = client.post(url, {"weight": "0.5"}, HTTP_USER_AGENT="admin-browser")
    assert response.status_code == 302
    random_model.refresh_from_db()
    assert random_model.weight == 0.5
    event = AuditEvent.objects.get(action="model.weight_changed")
    assert event.detail == {"task": "brain_mri", "from": 1.0, "to": 0.5}
    assert (event.actor, event.source, event.user_agent) == (model_admin, "web", "admin-browser")

    assert client.post(url, {"weight": "0.5"}).status_code == 302  # unchanged: nothing recorded
    assert AuditEvent.objects.filter(action="model.weight_changed").count() == 1


def test_activate_and_retire_actions_go_through_the_services(client, model_admin, random_model):
    client.force_login(model_admin)
    changelist = reverse("admin:inference_modelversion_changelist")
    client.post(changelist, {"action": "retire", ACTION_CHECKBOX_NAME: [random_model.pk]})
    random_model.refresh_from_db()
    assert random_model.status == ModelVersion.Status.RETIRED and random_model.retired_at is not None
    client.post(changelist, {"action": "activate", ACTION_CHECKBOX_NAME: [random_model.pk]})
    random_model.refresh_from_db()
    assert random_model.status == ModelVersion.Status.ACTIVE and random_model.retired_at is None
    events = AuditEvent.objects.filter(action__in=["model.retired", "model.activated"], actor=model_admin)
    assert sorted(e.action for e in events) == ["model.activated", "model.retired"]
    assert {e.source for e in events} == {"web"}


def test_view_only_staff_cannot_run_the_actions(client, make_user, site, random_model):
    viewer = make_user("auditor", None, site, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_modelversion"))
    client.force_login(viewer)
    changelist = reverse("admin:inference_modelversion_changelist")
    assert client.get(changelist).status_code == 200
    client.post(changelist, {"action": "retire", ACTION_CHECKBOX_NAME: [random_model.pk]})
    random_model.refresh_from_db()
    assert random_model.status == ModelVersion.Status.ACTIVE
    assert (
        client.post(
            reverse("admin:inference_modelversion_change", args=[random_model.pk]), {"weight": "3"}
        ).status_code
        == 403
    )
