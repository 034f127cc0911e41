"""The hostile corpus through the REST API (POST /api/v1/studies/ with a token), one input per request.

201 with the input stored whole, or 400 ``rejected`` with each file's reason, or another
4xx with a message; never a 5xx, and nothing half-stored after it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from tests.corpus.http_inputs import FORM, form_body
from tests.corpus.support import assert_nothing_half_stored, assert_outcome, params

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(uploader) -> APIClient:
    from api.services.tokens import token_create

    token = token_create(user=uploader, name="corpus", scopes="read,upload", expires_in=timedelta(days=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.value}")
    return client


def api_reasons(body: dict) -> list[str]:
    """The reasons of a 4xx body: each file's under ``errors`` when every file was rejected, else its message
    (and any field errors)."""
    errors = [reason for reasons in (body.get("errors") or {}).values() for reason in reasons]
    if body.get("code") == "rejected":
        return errors
    return [body.get("message") or body.get("detail") or "", *errors]


@pytest.mark.parametrize("item", params("api"))
def test_api_upload(item, api, media_dir):
    body = form_body([(item.upload_name, item.data)], {"task": "brain_mri"})
    response = api.generic("POST", "/api/v1/studies/", body, content_type=FORM)
    assert response.status_code < 500, response.content[:500]
    payload = response.json()
    if response.status_code in (200, 201):
        accepted = len(payload["accepted"])
        reasons = [r["reason"] for r in payload["rejected"]]
    else:
        assert 400 <= response.status_code < 500
        accepted, reasons = 0, api_reasons(payload)
    assert_outcome(item, "api", accepted=accepted, reasons=reasons)
    assert assert_nothing_half_stored(media_dir) == accepted
