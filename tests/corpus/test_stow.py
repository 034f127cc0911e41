"""The hostile corpus through STOW-RS (POST /dicomweb/studies, multipart/related), one instance per request.

Each instance is stored whole (200, referenced) or fails with a Failure Reason and the
platform's reason text (409 when it was the only one), or the request is a 4xx; never a
5xx, nothing half-stored. Anything that is not a DICOM instance fails there.
"""

from __future__ import annotations

import pytest

from tests.corpus.http_inputs import RELATED, related_body
from tests.corpus.support import assert_nothing_half_stored, assert_outcome, params

pytestmark = pytest.mark.django_db

FAILED, REFERENCED, REASON, TEXT = "00081198", "00081199", "00081197", "00091010"


def values(item: dict, tag: str) -> list:
    return item.get(tag, {}).get("Value", [])


@pytest.fixture
def pacs(site):
    from tests.corpus.conftest import _user

    return _user("corpus-pacs", "Integration", site)


@pytest.fixture
def stow_client(pacs):
    from datetime import timedelta

    from rest_framework.test import APIClient

    from api.services.tokens import token_create

    token = token_create(user=pacs, name="corpus", scopes="read,upload", expires_in=timedelta(days=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.value}")
    return client


def stow_outcome(response) -> tuple[int, list[str]]:
    """(instances stored, reasons) of a STOW-RS answer."""
    assert response.status_code < 500, response.content[:500]
    if response.status_code in (200, 202, 409):
        body = response.json()
        failed = values(body, FAILED)
        for item in failed:
            assert values(item, REASON), item  # every failure has its Failure Reason code
        reasons = [values(item, TEXT)[0] if values(item, TEXT) else "" for item in failed]
        return len(values(body, REFERENCED)), reasons
    assert 400 <= response.status_code < 500, response.status_code
    body = response.json()
    return 0, [body.get("message") or body.get("detail") or ""]


@pytest.mark.parametrize("item", params("stow"))
def test_stow(item, stow_client, media_dir):
    body = related_body([("application/dicom", item.data)])
    response = stow_client.generic(
        "POST", "/dicomweb/studies", body, content_type=RELATED, HTTP_ACCEPT="application/dicom+json"
    )
    accepted, reasons = stow_outcome(response)
    assert_outcome(item, "stow", accepted=accepted, reasons=reasons)
    assert assert_nothing_half_stored(media_dir) == accepted
