"""The token admin, used by a Curator with the Curator role's own permissions (not a superuser)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from api.models import ApiToken
from api.services.tokens import token_create
from cases.models import AuditEvent

pytestmark = pytest.mark.django_db

ADD = reverse("admin:api_apitoken_add")
LIST = reverse("admin:api_apitoken_changelist")


def _create(client, user, **fields):
    data = {"user": user.pk, "name": "PACS router", "scopes": ["read", "upload"], "days": 30, **fields}
    return client.post(ADD, data, follow=True)


def test_curator_creates_a_token_and_sees_its_value_once(client, curator, integration):
    assert not curator.is_superuser
    client.force_login(curator)
    form = client.get(ADD)
    assert form.status_code == 200
    assert b'type="checkbox"' in form.content and b'value="90"' in form.content  # default lifetime

    response = _create(client, integration, rate_per_minute=120)
    assert response.status_code == 200
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    value = re.search(r"Copy it now: it is not shown again: (onc_\S+)", " ".join(shown)).group(1)

    token = ApiToken.objects.get()
    assert token.user == integration and token.created_by == curator
    assert token.scopes == ["read", "upload"] and token.rate_per_minute == 120
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    event = AuditEvent.objects.get(action="api_token.created")
    assert event.actor == curator and event.source == "web"

    # The value works, and no admin page shows it again.
    api = APIClient(HTTP_AUTHORIZATION=f"Bearer {value}")
    assert api.get("/api/v1/me/").json()["username"] == "pacs"
    for url in (LIST, reverse("admin:api_apitoken_change", args=[token.pk])):
        page = client.get(url)
        assert page.status_code == 200 and token.prefix.encode() in page.content
        assert value.encode() not in page.content
        assert token.key_hash.encode() not in page.content


def test_bad_input_stores_nothing(client, curator, integration):
    client.force_login(curator)
    for fields in ({"scopes": ["delete"]}, {"scopes": []}, {"days": 0}, {"days": 9999}, {"name": " "}):
        response = _create(client, integration, **fields)
        assert response.status_code == 200 and response.context["adminform"].form.errors, fields
    assert not ApiToken.objects.exists()


def test_issued_token_is_read_only_and_cannot_be_deleted(client, curator, integration):
    client.force_login(curator)
    token = token_create(user=integration, name="x", scopes="read").token
    change = reverse("admin:api_apitoken_change", args=[token.pk])
    client.post(change, {"name": "renamed", "scopes": ["admin"]})
    token.refresh_from_db()
    assert token.name == "x" and token.scopes == ["read"]
    assert client.get(reverse("admin:api_apitoken_delete", args=[token.pk])).status_code == 403
    assert b"delete_selected" not in client.get(LIST).content


def test_revoke_action(client, curator, integration):
    client.force_login(curator)
    token = token_create(user=integration, name="old", scopes="read").token
    response = client.post(LIST, {"action": "revoke", "_selected_action": [token.pk]}, follow=True)
    assert response.status_code == 200
    token.refresh_from_db()
    assert token.state == "revoked" and token.revoked_by == curator
    event = AuditEvent.objects.get(action="api_token.revoked")
    assert event.actor == curator and event.source == "web"
    assert ApiToken.objects.filter(pk=token.pk).exists()  # kept for the trail


def test_list_filters_and_search(client, curator, integration, radiologist):
    client.force_login(curator)
    active = token_create(user=integration, name="PACS router", scopes="read").token
    expired = token_create(user=radiologist, name="script", scopes="read").token
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))
    revoked = token_create(user=integration, name="retired", scopes="read").token
    ApiToken.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())

    def listed(**params) -> set[int]:
        response = client.get(LIST, params)
        assert response.status_code == 200
        return {t.pk for t in response.context["cl"].result_list}

    assert listed() == {active.pk, expired.pk, revoked.pk}
    assert listed(state="active") == {active.pk}
    assert listed(state="expired") == {expired.pk}
    assert listed(state="revoked") == {revoked.pk}
    assert listed(user__id__exact=radiologist.pk) == {expired.pk}
    assert listed(q="router") == {active.pk}
    assert listed(q=revoked.prefix) == {revoked.pk}


def test_other_roles_have_no_token_admin(client, radiologist):
    radiologist.is_staff = True  # even with admin access, the role lacks the token permissions
    radiologist.save()
    client.force_login(radiologist)
    assert client.get(LIST).status_code == 403
    assert client.get(ADD).status_code == 403
