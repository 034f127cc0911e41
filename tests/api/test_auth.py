"""Signing in to the API: bearer tokens (scopes, expiry, revocation, last use), sessions, throttling, errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from api.models import ApiToken
from api.services.tokens import token_create, token_digest, token_revoke
from cases.models import AuditEvent
from oncoportal.exceptions import InvalidInput

ME = "/api/v1/me/"


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "errors"}, body
    assert body["code"] == code, body
    assert body["message"]
    return body


@pytest.mark.django_db
def test_token_is_shown_once_and_stored_hashed(integration, curator):
    issued = token_create(user=integration, name="PACS router", scopes="read,upload", created_by=curator)
    row = ApiToken.objects.get(pk=issued.token.pk)
    assert issued.value.startswith(f"onc_{row.prefix}_")
    assert row.key_hash == token_digest(issued.value)
    assert issued.value not in str(row.__dict__)  # only the digest is kept
    assert row.scopes == ["read", "upload"]
    assert row.expires_at > timezone.now() + timedelta(days=89)
    event = AuditEvent.objects.get(action="api_token.created")
    assert event.actor == curator and event.detail["scopes"] == ["read", "upload"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"scopes": "read,delete"}, "unknown scope"),
        ({"scopes": ""}, "at least one scope"),
        ({"name": "  "}, "name the token"),
        ({"expires_in": timedelta(days=-1)}, "lives between"),
        ({"rate_per_minute": 0}, "at least 1"),
    ],
)
def test_bad_token_requests_are_refused(integration, kwargs, reason):
    arguments = {"user": integration, "name": "x", "scopes": "read", **kwargs}
    with pytest.raises(InvalidInput, match=reason):
        token_create(**arguments)
    assert not ApiToken.objects.exists()


@pytest.mark.django_db
def test_me_with_a_token(integration, token_client):
    response = token_client(integration, "read,upload").get(ME)
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "pacs"
    assert body["roles"] == ["Integration"]
    assert body["site"] == "uh-radiology"
    assert body["scopes"] == ["read", "upload"]
    assert body["token"]["prefix"]
    token = ApiToken.objects.get()
    assert token.last_used_at is not None and token.last_used_ip == "127.0.0.1"


@pytest.mark.django_db
def test_anonymous_gets_401_with_a_bearer_challenge():
    response = APIClient().get(ME)
    _error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Bearer nonsense", "malformed"),
        ("Bearer onc_abcdefgh_" + "A" * 43, "unknown token"),
        ("Bearer", "'Bearer <token>'"),
    ],
)
def test_bad_tokens_get_401_with_the_reason(header, reason):
    response = APIClient().get(ME, HTTP_AUTHORIZATION=header)
    body = _error(response, 401, "authentication_failed")
    assert reason in body["message"]


@pytest.mark.django_db
def test_revoked_and_expired_tokens_get_401(integration, make_token, curator):
    revoked = make_token(integration)
    token_revoke(token=ApiToken.objects.get(), by=curator)
    body = _error(APIClient().get(ME, HTTP_AUTHORIZATION=f"Bearer {revoked}"), 401, "authentication_failed")
    assert "revoked" in body["message"]
    expired = make_token(integration, days=1)
    ApiToken.objects.filter(revoked_at=None).update(expires_at=timezone.now() - timedelta(seconds=1))
    body = _error(APIClient().get(ME, HTTP_AUTHORIZATION=f"Bearer {expired}"), 401, "authentication_failed")
    assert "expired" in body["message"]


@pytest.mark.django_db
def test_role_less_account_gets_403(no_role_user, token_client):
    _error(token_client(no_role_user).get(ME), 403, "permission_denied")


@pytest.mark.django_db
def test_session_sign_in_works_for_the_browser(client, radiologist):
    client.force_login(radiologist)
    response = client.get(ME)
    assert response.status_code == 200
    assert response.json()["token"] is None
    assert response.json()["scopes"] == ["read", "upload", "review", "admin"]


@pytest.mark.django_db
def test_throttled_token_gets_429_with_retry_after(integration, token_client):
    client = token_client(integration, rate=3)
    assert [client.get(ME).status_code for _ in range(3)] == [200, 200, 200]
    response = client.get(ME)
    _error(response, 429, "throttled")
    assert 1 <= int(response["Retry-After"]) <= 60


@pytest.mark.django_db
def test_repeated_bad_tokens_from_one_address_are_throttled(settings):
    settings.API_AUTH_FAILURES_PER_MINUTE = 3
    client = APIClient()
    statuses = [
        client.get(ME, HTTP_AUTHORIZATION="Bearer onc_abcdefgh_" + "B" * 43).status_code for _ in range(4)
    ]
    assert statuses == [401, 401, 401, 429]


@pytest.mark.django_db
def test_unknown_api_path_is_a_json_404(integration, token_client):
    _error(token_client(integration).get("/api/v1/nothing-here/"), 404, "not_found")
    _error(APIClient().get("/api/v2/"), 404, "not_found")


@pytest.mark.django_db
def test_schema_and_offline_docs_are_served_to_anyone(client):
    schema = client.get("/api/v1/schema/?format=json")
    assert schema.status_code == 200
    assert "/api/v1/me/" in schema.json()["paths"]
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    assert b"drf_spectacular_sidecar" in docs.content  # served from our static files, not a CDN
    assert client.get("/api/v1/redoc/").status_code == 200
