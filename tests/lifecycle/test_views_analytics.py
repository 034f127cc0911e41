"""The Analytics tab: figures and tables for a Curator, 403 for anyone else, a bounded number of queries."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db

G, M, N = "glioma", "meningioma", "notumor"
URL = "/curation/analytics/"


@pytest.fixture
def some_readings(ai_case, read, reviewer, v1):
    for ai, final in [(G, G), (G, G), (M, G), (M, M), (N, M), (N, N), (G, "")]:
        read(ai_case(ai, v1), reviewer, final)


def test_the_url_name_and_the_curator_tab():
    assert reverse("lifecycle:analytics") == URL


def test_page_shows_the_figures_and_tables(client, curator, some_readings):
    client.force_login(curator)
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    for chart in ("chart-confusion", "chart-sens-spec", "chart-agreement", "chart-turnaround"):
        assert f'id="{chart}"><svg' in html
    assert 'aria-current="page">Analytics</a>' in html
    report = response.context["report"]
    # 6 compared (glioma 3: AI 2 right; meningioma 2: 1 right; notumor 1: right), 1 non-diagnostic.
    assert report.confusion.matrix == [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    assert report.outcomes["non_diagnostic"] == 1
    assert 'id="summary-accuracy">67%<' in html  # 4 of 6
    assert '<tr data-class="glioma"><th scope="row">Glioma</th><td>3</td><td>2</td>' in html
    # Glioma: sensitivity 2/3; specificity (3 others, 0 called glioma) 1.
    assert '<td class="sensitivity">0.667</td><td class="specificity">1.000</td>' in html


def test_reviewers_and_radiologists_get_403(client, reviewer, radiologist, some_readings):
    for user in (reviewer, radiologist):
        client.force_login(user)
        assert client.get(URL).status_code == 403
        assert client.get(URL + "figures.csv").status_code == 403


def test_bad_filters_are_a_400_with_the_reason(client, curator):
    client.force_login(curator)
    today = timezone.localdate()
    response = client.get(
        URL, {"task": "brain_mri", "date_from": today, "date_to": today - timedelta(days=1)}
    )
    assert response.status_code == 400
    assert "The range starts after it ends." in response.content.decode()
    assert client.get(URL, {"task": "no-such-task"}).status_code == 400
    assert client.get(URL + "figures.csv", {"date_from": "soon"}).status_code == 400


def test_csv_download_holds_the_figures(client, curator, some_readings):
    client.force_login(curator)
    response = client.get(URL + "figures.csv", {"task": "brain_mri"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["section", "key", "subkey", "n", "value"]
    assert ["confusion", "final=glioma", "ai=meningioma", "1", ""] in rows
    assert ["class", "glioma", "sensitivity", "3", "0.6667"] in rows
    assert ["images", "non_diagnostic", "", "1", ""] in rows


def test_queries_do_not_grow_with_the_reviews(
    client, curator, ai_case, read, reviewer, v1, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(curator)
    read(ai_case(G, v1), reviewer, G)
    with CaptureQueriesContext(connection) as few:
        assert client.get(URL, {"task": "brain_mri"}).status_code == 200
    for i in range(24):
        read(ai_case([G, M, N][i % 3], v1), reviewer, [G, M, N][(i // 3) % 3])
    assert (
        len(few.captured_queries) <= 15
    )  # session, user, permissions, filters, and one query per kind of row
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(URL, {"task": "brain_mri"})
    assert response.context["report"].confusion.n == 25
