"""The hostile corpus through the web upload page (issue 24), one input per request.

Each input gets a 4xx with a reason, or a result page that lists it as rejected with
a readable reason, or it is stored whole when it is in fact valid; never a 5xx, and
nothing half-stored after it. The result page of every upload renders (200), with any
markup in a name or reason escaped.
"""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from tests.corpus.http_inputs import FORM, form_body
from tests.corpus.support import assert_nothing_half_stored, assert_outcome, params

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("item", params("web"))
def test_web_upload(item, client, uploader, media_dir):
    from cases.models import IntakeBatch

    client.force_login(uploader)
    body = form_body([(item.upload_name, item.data)], {"task": "brain_mri"})
    # As the upload page's script posts: it asks for JSON and follows result_url.
    response = client.post(reverse("cases:upload"), body, content_type=FORM, HTTP_ACCEPT="application/json")
    assert response.status_code < 500, response.content[:500]
    if 400 <= response.status_code < 500:
        accepted, reasons = 0, [response.json()["error"]]
        assert not IntakeBatch.objects.exists()
    else:
        assert response.status_code == 200, response.status_code
        batch = IntakeBatch.objects.get()
        report = batch.report
        accepted = len(report["accepted"])
        reasons = [r["reason"] for r in report["rejected"]]
        page = client.get(response.json()["result_url"])
        assert page.status_code == 200
        text = page.content.decode()
        assert "<script>alert(1)" not in text  # names and reasons are escaped
        for reason in reasons:
            assert html.escape(reason) in text, reason
    assert_outcome(item, "web", accepted=accepted, reasons=reasons)
    assert assert_nothing_half_stored(media_dir) == accepted
