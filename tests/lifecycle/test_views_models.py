"""The Models tab: Curators only; the overview, the promote page's gate table, promote and roll back by POST."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from cases.models import AuditEvent, AuditSource
from inference.selectors import active_ensemble
from lifecycle.models import ModelChange
from tests.lifecycle.conftest import metrics

pytestmark = pytest.mark.django_db


@pytest.fixture
def curator_client(client, curator):
    client.force_login(curator)
    return client


@pytest.fixture
def promoted(random_model, candidate, make_evaluation, curator):
    from cases.services.audit import AuditContext
    from lifecycle.services.promotion import model_promote

    make_evaluation(candidate)
    return model_promote(candidate=candidate, audit=AuditContext.system(source="cli", actor=curator))


def test_other_roles_get_403_everywhere(client, radiologist, reviewer, promoted, candidate, random_model):
    gets = [
        reverse("lifecycle:models"),
        reverse("lifecycle:promote", args=[candidate.pk]),
        reverse("lifecycle:rollback", args=[promoted.pk]),
        reverse("lifecycle:rollback_version", args=[random_model.pk]),
    ]
    for user in (radiologist, reviewer):
        client.force_login(user)
        for url in gets:
            assert client.get(url).status_code == 403, url
        for url in gets[1:]:
            assert client.post(url, {"reason": "x"}).status_code == 403, url
    assert active_ensemble(task="brain_mri") == [candidate]
    assert ModelChange.objects.count() == 1
    client.logout()
    assert client.get(gets[0]).status_code == 302  # to the login page


def test_curate_without_promote_sees_the_pages_but_no_buttons_and_may_not_post(
    client, make_user, site, promoted, random_model
):
    user = make_user("viewer", "Reviewer", site)
    user.user_permissions.add(Permission.objects.get(codename="curate_dataset"))
    client.force_login(user)
    response = client.get(reverse("lifecycle:models"))
    assert response.status_code == 200
    html = response.content.decode()
    assert random_model.label in html
    assert "Roll back" not in html and "Promote…" not in html
    url = reverse("lifecycle:rollback", args=[promoted.pk])
    assert client.get(url).status_code == 200
    assert client.post(url).status_code == 403
    assert ModelChange.objects.count() == 1


def test_the_overview_shows_champion_candidates_and_history(
    curator_client, random_model, candidate, make_evaluation
):
    make_evaluation(candidate, champion=metrics(0.80), challenger=metrics(0.70))
    html = curator_client.get(reverse("lifecycle:models")).content.decode()
    assert 'aria-current="page">Models' in html
    assert random_model.label in html and "lead" in html
    assert candidate.label in html and "refused" in html
    assert "Macro-F1 0.700 is 0.100 below" in html
    assert reverse("lifecycle:promote", args=[candidate.pk]) in html
    assert "No promotion or roll-back yet." in html


def test_the_promote_page_shows_the_gate_and_refuses_a_worse_candidate(
    curator_client, random_model, candidate, make_evaluation
):
    evaluation = make_evaluation(candidate, champion=metrics(0.80), challenger=metrics(0.81, meningioma=0.70))
    url = reverse("lifecycle:promote", args=[candidate.pk])
    html = curator_client.get(url).content.decode()
    assert 'id="gate-checks"' in html and 'id="gate-chart"' in html
    assert f"evaluation {evaluation.pk}" in html.lower() or f">{evaluation.pk}<" in html
    assert 'data-check="sensitivity:meningioma"' in html and "Fail" in html
    response = curator_client.post(url, {"reason": "try"})
    assert response.status_code == 409
    assert "the gate refused" in response.content.decode()
    assert active_ensemble(task="brain_mri") == [random_model]


def test_the_promote_page_without_an_evaluation_says_evaluate_first(curator_client, random_model, candidate):
    response = curator_client.get(reverse("lifecycle:promote", args=[candidate.pk]))
    assert "evaluate it against the current champion first" in response.content.decode()


def test_promote_then_roll_back_by_post(curator_client, random_model, candidate, make_evaluation, curator):
    make_evaluation(candidate)
    response = curator_client.post(
        reverse("lifecycle:promote", args=[candidate.pk]), {"reason": "passes the gate"}
    )
    change = ModelChange.objects.get()
    assert response.status_code == 302 and response.url.endswith(f"#change-{change.pk}")
    assert active_ensemble(task="brain_mri") == [candidate]
    event = AuditEvent.objects.get(action="model.promoted")
    assert event.source == AuditSource.WEB and event.actor == curator and event.ip_address

    html = curator_client.get(reverse("lifecycle:models")).content.decode()
    assert f'id="change-{change.pk}"' in html and "passes the gate" in html
    url = reverse("lifecycle:rollback", args=[change.pk])
    assert url in html
    confirm = curator_client.get(url).content.decode()
    assert 'id="rollback-target"' in confirm and str(random_model) in confirm
    response = curator_client.post(url, {"reason": "undo"})
    assert response.status_code == 302
    assert active_ensemble(task="brain_mri") == [random_model]
    assert AuditEvent.objects.get(action="model.rolled_back").source == AuditSource.WEB
    again = curator_client.post(url)
    assert again.status_code == 409 and "already the active one" in again.content.decode()


def test_roll_back_to_an_earlier_version(curator_client, promoted, random_model):
    html = curator_client.get(reverse("lifecycle:models")).content.decode()
    url = reverse("lifecycle:rollback_version", args=[random_model.pk])
    assert url in html
    assert curator_client.post(url, {"reason": "back"}).status_code == 302
    assert active_ensemble(task="brain_mri") == [random_model]


def test_the_admin_lists_changes_read_only(curator_client, promoted):
    url = reverse("admin:lifecycle_modelchange_changelist")
    assert promoted.version.name in curator_client.get(url).content.decode()
    detail = curator_client.get(reverse("admin:lifecycle_modelchange_change", args=[promoted.pk]))
    assert detail.status_code == 200 and "Save" not in detail.content.decode()
    assert curator_client.get(reverse("admin:lifecycle_modelchange_add")).status_code == 403
