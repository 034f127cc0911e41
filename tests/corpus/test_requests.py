"""Huge, lying and malformed multipart bodies against the web upload, the REST API and STOW-RS.

Each is a 4xx with a message (or, where the parser salvages a part, a batch whose every
entry is rejected with a reason); never a 5xx; nothing stored.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from tests.corpus.hostile import HostileRequest, requests
from tests.corpus.support import assert_nothing_half_stored, assert_readable

pytestmark = pytest.mark.django_db

PATHS = {"web": None, "api": "/api/v1/studies/", "stow": "/dicomweb/studies"}


def _params() -> list[object]:
    return [
        pytest.param(request, target, id=f"{target}/{request.name}")
        for request in requests()
        for target in request.targets
    ]


@pytest.fixture
def token_client(uploader):
    from api.services.tokens import token_create

    token = token_create(user=uploader, name="corpus", scopes="read,upload", expires_in=timedelta(days=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.value}")
    return client


def _message(response) -> str:
    body = response.json()
    if "error" in body:
        return body["error"]
    errors = [reason for reasons in (body.get("errors") or {}).values() for reason in reasons]
    return body.get("message") or body.get("detail") or "; ".join(errors)


@pytest.mark.parametrize(("request_", "target"), _params())
def test_request_is_refused_and_nothing_stored(
    request_: HostileRequest, target, client, uploader, token_client, media_dir
):
    from cases.models import Image, IntakeBatch

    extra = {"HTTP_ACCEPT": "application/json"}
    if request_.content_length is not None:
        extra["CONTENT_LENGTH"] = str(request_.content_length)
    if target == "web":
        client.force_login(uploader)
        sender, path = client, reverse("cases:upload")
    else:
        sender, path = token_client, str(PATHS[target])
        if target == "stow":
            extra["HTTP_ACCEPT"] = "application/dicom+json"
    response = sender.generic("POST", path, request_.body, content_type=request_.content_type, **extra)
    assert response.status_code < 500, response.content[:300]
    if 400 <= response.status_code < 500 and response.status_code != 409:
        assert_readable(_message(response))
    else:
        # The parser salvaged something: then every entry is refused with a reason.
        batch = IntakeBatch.objects.get()
        assert batch.accepted_count == 0 and batch.rejected_count >= 1, batch.report
        for entry in batch.report["rejected"]:
            assert_readable(entry["reason"])
    assert not Image.objects.exists()
    assert assert_nothing_half_stored(media_dir) == 0
