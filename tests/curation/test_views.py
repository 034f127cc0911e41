"""The Curator page's labelled images: Curators only, filters, bulk include/exclude with a reason, audited."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cases.models import AuditEvent
from curation.models import Example

pytestmark = pytest.mark.django_db
URL = reverse("curation:images")


def test_readers_and_radiologists_get_403(client, reviewer, radiologist):
    for user in (reviewer, radiologist):
        client.force_login(user)
        assert client.get(URL).status_code == 403
        assert client.post(URL, {"action": "include"}).status_code == 403


def test_curator_filters_and_sees_counts_thumbnails_and_case_links(client, curator, make_example, site):
    benign = make_example(site, label="benign")
    malignant = make_example(site, label="malignant", provenance="corrected", disagreement=True)
    client.force_login(curator)

    response = client.get(URL, {"label": "malignant"})
    assert response.status_code == 200
    page = response.content.decode()
    assert f'data-example-id="{malignant.pk}"' in page and f'data-example-id="{benign.pk}"' not in page
    assert reverse("cases:image_thumbnail", args=[malignant.image_id]) in page
    assert reverse("cases:case_detail", args=[malignant.case_id]) in page
    assert "disagreement" in page and 'data-count-provenance="corrected"' in page
    assert response.context["counts"]["total"] == 1
    assert 'aria-current="page">Labelled images' in page


def test_bulk_exclude_needs_a_reason(client, curator, make_example, site):
    first, second = make_example(site), make_example(site)
    client.force_login(curator)
    response = client.post(URL, {"examples": [first.pk, second.pk], "action": "exclude", "reason": " "})
    assert response.status_code == 400
    assert "Say why these images are excluded." in response.content.decode()
    assert Example.objects.filter(included=False).count() == 0
    assert not AuditEvent.objects.filter(action="curation.example_excluded").exists()


def test_bulk_exclude_then_include_keeps_the_filters_and_audits_from_the_web(
    client, curator, make_example, site
):
    first, second, untouched = make_example(site), make_example(site), make_example(site)
    client.force_login(curator)
    response = client.post(
        f"{URL}?label=benign",
        {"examples": [first.pk, second.pk], "action": "exclude", "reason": "wrong body part"},
        HTTP_USER_AGENT="pytest-browser",
    )
    assert response.status_code == 302 and response.url == f"{URL}?label=benign"
    assert set(Example.objects.filter(included=False).values_list("pk", flat=True)) == {first.pk, second.pk}
    untouched.refresh_from_db()
    assert untouched.included
    events = AuditEvent.objects.filter(action="curation.example_excluded")
    assert {e.object_id for e in events} == {str(first.pk), str(second.pk)}
    assert all(
        (e.source, e.actor, e.user_agent, e.detail["reason"])
        == ("web", curator, "pytest-browser", "wrong body part")
        for e in events
    )
    page = client.get(URL, {"included": "no"}).content.decode()
    assert page.count('<p class="small reason">wrong body part</p>') == 2

    client.post(URL, {"examples": [first.pk], "action": "include"})
    first.refresh_from_db()
    assert (first.included, first.exclusion_reason) == (True, "")


def test_the_page_costs_the_same_queries_for_3_or_30_images(
    client, curator, make_example, site, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):
        make_example(site)
    client.force_login(curator)
    client.get(URL)  # warm the session and the task registry's cache
    with CaptureQueriesContext(connection) as few:
        assert client.get(URL).status_code == 200
    for _ in range(27):
        make_example(site)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(URL).status_code == 200
