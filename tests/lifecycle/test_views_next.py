"""The label-next pages: the Curator's tab and the readers' page (permissions, figures, blind reading, queries)."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases.models import ReviewPolicy
from cases.templatetags.cases_tags import class_label

from .conftest import BRAIN, brain

pytestmark = pytest.mark.django_db

CURATOR_PAGE = "/curation/next/"
READER_PAGE = "/label-next/"


def rows_in_order(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr data-case-id="(\d+)"', html)]


def thumbnails(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r"/images/(\d+)/thumbnail\.png", html)]


@pytest.fixture
def queue(site, make_case, make_version, predict, shadow):
    """Three waiting brain cases: a near tie on its second image, split ensemble members, a contested one."""
    lead, second, challenger = make_version(), make_version(), make_version(status="registered")
    tie = make_case(site, task="brain_mri", status="predicted", images=2)
    split = make_case(site, task="brain_mri", status="predicted")
    contested = make_case(site, task="brain_mri", status="in_review")
    first, second_image = tie.images.order_by("pk")
    predict(first, lead, brain(0.95, 0.01))
    predict(second_image, lead, brain(0.45, 0.45))
    members = [
        {"version_id": lead.pk, "version": str(lead), "weight": 1.0, "probabilities": brain(0.9, 0.04)},
        {"version_id": second.pk, "version": str(second), "weight": 1.0, "probabilities": brain(0.3, 0.64)},
    ]
    predict(split.images.get(), lead, brain(0.6, 0.34), members=members)
    predict(contested.images.get(), lead, brain(0.92, 0.02))
    shadow(contested.images.get(), challenger, brain(0.02, 0.92))
    return {"tie": tie, "split": split, "contested": contested, "tie_images": (first, second_image)}


def test_who_may_open_which_page(client, radiologist, reviewer, curator, integration, queue):
    for user, curator_status, reader_status in (
        (radiologist, 403, 403),
        (integration, 403, 403),
        (reviewer, 403, 200),
        (curator, 200, 200),
    ):
        client.force_login(user)
        assert client.get(CURATOR_PAGE).status_code == curator_status, user
        assert client.get(READER_PAGE).status_code == reader_status, user
    client.logout()
    assert client.get(CURATOR_PAGE).status_code == 302
    assert client.get(READER_PAGE).status_code == 302
    assert reverse("lifecycle:next") == CURATOR_PAGE and reverse("label_next:queue") == READER_PAGE


def test_curator_page_ranks_and_says_why(client, curator, queue):
    client.force_login(curator)
    html = client.get(CURATOR_PAGE, {"strategy": "uncertainty"}).content.decode()
    assert 'aria-current="page">Label next' in html
    # Uncertainty: the near tie (its second image), then the split ensemble's mean, then the contested one.
    assert rows_in_order(html) == [queue["tie"].pk, queue["split"].pk, queue["contested"].pk]
    # The row's thumbnail is the image that ranked it.
    assert thumbnails(html)[0] == queue["tie_images"][1].pk
    assert "uncertain: " in html and "entropy" in html and "margin" in html
    assert f'href="/cases/{queue["tie"].pk}/"' in html

    html = client.get(CURATOR_PAGE, {"strategy": "disagreement"}).content.decode()
    assert rows_in_order(html) == [queue["contested"].pk, queue["split"].pk, queue["tie"].pk]
    assert re.search(r"challenger disagrees: 0\.\d\d, says No tumour", html)
    assert re.search(r"members disagree: 0\.\d\d", html)
    assert "<svg" in html and 'data-bin="0.0"' in html  # the score histogram


def test_task_filter_and_bad_strategy(client, curator, queue, site, make_case, make_version, predict):
    lung = make_case(site, task="lung_ct", status="predicted")
    predict(
        lung.images.get(),
        make_version("lung_ct", classes=["benign", "malignant"]),
        {"benign": 0.5, "malignant": 0.5},
    )
    client.force_login(curator)
    assert rows_in_order(client.get(CURATOR_PAGE, {"task": "lung_ct"}).content.decode()) == [lung.pk]
    response = client.get(CURATOR_PAGE, {"strategy": "loudest"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "were not understood" in html
    assert len(rows_in_order(html)) == 4  # every task, the default (combined) strategy


def test_out_of_scope_cases_are_listed_apart(client, curator, site, make_case, make_version, predict):
    outside = make_case(site, task="brain_mri", status="predicted")
    predict(outside.images.get(), make_version(), brain(0.3, 0.3), in_scope=False, label="", confidence=None)
    client.force_login(curator)
    html = client.get(CURATOR_PAGE).content.decode()
    assert rows_in_order(html) == []
    assert "Outside the model's scope (1)" in html and f'href="/cases/{outside.pk}/"' in html


def test_reader_page_shows_figures_but_never_shadow_results(client, reviewer, queue):
    client.force_login(reviewer)
    html = client.get(READER_PAGE, {"strategy": "disagreement"}).content.decode()
    # Without shadow results the contested case has nothing to disagree about.
    assert rows_in_order(html) == [queue["split"].pk, queue["tie"].pk, queue["contested"].pk]
    assert "members disagree" in html and 'data-field="score"' in html
    assert "challenger" not in html and "shadow" not in html.lower()


def test_reader_page_under_blind_first_reading_shows_the_order_only(client, reviewer, queue):
    client.force_login(reviewer)
    before = client.get(READER_PAGE, {"strategy": "uncertainty"}).content.decode()
    ReviewPolicy.objects.create(task="brain_mri", blind_first_reading=True)

    html = client.get(READER_PAGE, {"strategy": "uncertainty"}).content.decode()

    assert (
        rows_in_order(html)
        == rows_in_order(before)
        == [queue["tie"].pk, queue["split"].pk, queue["contested"].pk]
    )
    assert html.count("data-ai-hidden") == 3 and "hidden until you read" in html
    assert 'data-field="score"' not in html and 'data-field="label"' not in html
    assert "uncertain:" not in html and "members disagree" not in html and "score-bar" not in html
    for name in BRAIN:
        assert f">{class_label(name, 'brain_mri')}<" not in html
    # The thumbnail is the first image in study order, not the one the AI was unsure of.
    assert thumbnails(html)[0] == queue["tie_images"][0].pk
    assert thumbnails(before)[0] == queue["tie_images"][1].pk
    # The Curator's own tab is not a reader's page: it keeps its figures.


def test_worklist_links_the_readers_queue(client, reviewer, radiologist):
    client.force_login(reviewer)
    assert 'href="/label-next/"' in client.get(reverse("cases:worklist")).content.decode()
    client.force_login(radiologist)
    assert 'href="/label-next/"' not in client.get(reverse("cases:worklist")).content.decode()


def test_pages_cost_the_same_queries_for_3_or_30_cases(
    client, curator, reviewer, site, make_case, make_version, predict, shadow, django_assert_max_num_queries
):
    version, challenger = make_version(), make_version(status="registered")
    ReviewPolicy.objects.create(task="brain_mri", blind_first_reading=True)

    def add(n):
        for i in range(n):
            case = make_case(site, task="brain_mri", status="predicted", images=2)
            for image in case.images.all():
                predict(image, version, brain(0.2 + 0.02 * i, 0.3))
                shadow(image, challenger, brain(0.3, 0.2))

    for user, url in ((curator, CURATOR_PAGE), (reviewer, READER_PAGE)):
        client.force_login(user)
        client.get(url)  # the session, the user's permissions and the task registry, loaded once
        counts = []
        for n in (3, 27):
            add(n)
            with CaptureQueriesContext(connection) as ctx:
                response = client.get(url)
            assert response.status_code == 200
            counts.append(len(ctx.captured_queries))
        assert counts[0] == counts[1], (url, counts)
        with django_assert_max_num_queries(15):
            client.get(url)
