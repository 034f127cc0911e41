"""The admin as a Curator uses it: the Curator group's own permissions (staff, not a superuser).

Every registered admin is walked, so a new one is covered the day it is registered: its
list, the change form of a stored row and its add form answer 200 exactly when the
Curator role holds the permission (and the admin itself allows the page, as a superuser
sees it), 403 otherwise. Two fixed lists pin what the role is for: the pages a Curator's
work needs, and the ones kept for administrators (accounts, sites, sign-in logs).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from cases.models import AuditEvent, Case
from inference.models import ModelVersion, Prediction

pytestmark = pytest.mark.django_db

# What a Curator's work needs (docs/security.md, cases/permissions.py ROLE_PERMISSIONS).
CURATOR_REACHES = {
    "cases.case", "cases.auditevent", "cases.intakebatch", "cases.review", "cases.adjudication",
    "cases.reviewpolicy", "cases.routingrule", "inference.modelversion", "api.apitoken",
    "api.webhooksubscription", "api.webhookdelivery", "results.destination", "results.resultobject",
    "results.resultdelivery", "results.studyidentity", "curation.example", "curation.snapshot",
    "retraining.trainingjob",
}  # fmt: skip
# Administrators only: accounts, groups, sites and the sign-in logs; raw rows a Curator reads on the case pages.
CURATOR_NEVER = {
    "cases.user", "auth.group", "cases.site", "axes.accessattempt", "axes.accesslog",
    "axes.accessfailurelog", "cases.patient", "cases.study", "cases.series", "cases.image",
    "inference.prediction", "inference.tryout",
}  # fmt: skip


def _label(model: type[Model]) -> str:
    return f"{model._meta.app_label}.{model._meta.model_name}"


def _url(model: type[Model], page: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}", args=args)


@pytest.fixture
def stored_rows(predicted, reviewer, integration, curator, mocker):
    """At least one row behind most admins: cases with predictions, a review, a token, a webhook delivery."""
    from api.services.tokens import token_create
    from api.services.webhooks import webhook_create, webhook_ping
    from cases.services.review import review_submit

    mocker.patch("api.services.webhooks.deliver_webhook.delay")
    case = predicted[0]
    image = case.images.get()
    review_submit(case=case, image=image, reviewer=reviewer, label=Prediction.objects.get(image=image).label)
    token_create(user=integration, name="pacs bridge", scopes="read", expires_in=timedelta(days=1))
    subscription = webhook_create(
        name="RIS bridge", url="https://ris.example.org/hook", events=["review.completed"], created_by=curator
    )
    webhook_ping(subscription=subscription, by=curator)
    return predicted


def test_every_admin_page_answers_as_the_curator_role_allows(client, curator, make_user, stored_rows):
    assert curator.is_staff and not curator.is_superuser
    root = Client()
    root.force_login(make_user("root", None, None, is_staff=True, is_superuser=True))
    client.force_login(curator)
    wrong: list[str] = []
    reached: set[str] = set()
    for model in admin.site._registry:
        label, app, name = _label(model), model._meta.app_label, model._meta.model_name
        may_view = curator.has_perm(f"{app}.view_{name}") or curator.has_perm(f"{app}.change_{name}")
        pages = [("changelist", _url(model, "changelist"), may_view)]
        row = model._default_manager.order_by("pk").first()
        if row is not None:
            pages.append(("change form", _url(model, "change", row.pk), may_view))
        # The add form: the role's add permission, where the admin offers one at all.
        admin_adds = root.get(_url(model, "add")).status_code == 200
        pages.append(("add form", _url(model, "add"), admin_adds and curator.has_perm(f"{app}.add_{name}")))
        for page, url, allowed in pages:
            status = client.get(url).status_code
            if status != (200 if allowed else 403):
                wrong.append(f"{label} {page} {url}: {status}, expected {200 if allowed else 403}")
            if page == "changelist" and status == 200:
                reached.add(label)
    assert not wrong, "\n".join(wrong)
    assert reached >= CURATOR_REACHES, CURATOR_REACHES - reached
    assert not reached & CURATOR_NEVER, reached & CURATOR_NEVER
    # The admin's index lists exactly the pages the Curator reaches.
    index = client.get(reverse("admin:index"))
    listed = {
        f"{a['app_label']}.{m['object_name'].lower()}" for a in index.context["app_list"] for m in a["models"]
    }
    assert listed == reached


def test_no_list_offers_the_curator_an_action_the_role_may_not_take(client, curator, stored_rows):
    client.force_login(curator)
    offered: dict[str, list[str]] = {}
    for model in admin.site._registry:
        response = client.get(_url(model, "changelist"))
        if response.status_code != 200 or response.context.get("action_form") is None:
            continue
        actions = [value for value, _ in response.context["action_form"].fields["action"].choices if value]
        offered[_label(model)] = actions
        if "delete_selected" in actions:
            assert curator.has_perm(f"{model._meta.app_label}.delete_{model._meta.model_name}"), model
    # History and results are never bulk-deleted; models are retired, not deleted.
    for label in ("cases.auditevent", "cases.case", "inference.modelversion", "results.resultobject"):
        assert "delete_selected" not in offered.get(label, []), label
    assert {"activate", "retire"} <= set(offered["inference.modelversion"])


def test_the_curators_model_actions_go_through_the_services(client, curator, random_model):
    client.force_login(curator)
    changelist = _url(ModelVersion, "changelist")
    response = client.post(changelist, {"action": "retire", ACTION_CHECKBOX_NAME: [random_model.pk]})
    assert response.status_code == 302
    random_model.refresh_from_db()
    assert random_model.status == ModelVersion.Status.RETIRED and random_model.retired_at is not None
    client.post(changelist, {"action": "activate", ACTION_CHECKBOX_NAME: [random_model.pk]})
    random_model.refresh_from_db()
    assert random_model.status == ModelVersion.Status.ACTIVE and random_model.retired_at is None
    events = AuditEvent.objects.filter(action__in=["model.retired", "model.activated"], actor=curator)
    assert [e.action for e in events.order_by("pk")] == ["model.retired", "model.activated"]
    assert {e.source for e in events} == {"web"}


def test_the_curators_case_edit_goes_through_the_services(client, curator, stored_rows):
    case = stored_rows[1]
    client.force_login(curator)
    data = {"task": case.task, "priority": 2, "assignee": "", "flag_reason": "", "flagged": ""}
    response = client.post(_url(Case, "change", case.pk), data)
    assert response.status_code == 302, response.content[:2000]
    case.refresh_from_db()
    assert case.priority == 2
    changed = AuditEvent.objects.get(action="case.priority_changed", object_id=str(case.pk))
    assert (changed.detail, changed.actor, changed.source) == ({"from": 0, "to": 2}, curator, "web")
    assert AuditEvent.objects.get(action="case.admin_changed", object_id=str(case.pk)).actor == curator
