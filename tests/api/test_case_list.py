"""GET /api/v1/cases/: the worklist's filters and orders, strict parameters, keyset cursor pages, scoping."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlparse

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from api.pagination import WorklistCursor, sort_keys
from cases.models import Case
from cases.selectors import WORKLIST_ORDERINGS, WorklistOrder, worklist_for_user
from inference.models import ModelVersion, Prediction

pytestmark = pytest.mark.django_db

URL = "/api/v1/cases/"
ITEM_KEYS = {
    "id",
    "url",
    "site",
    "task",
    "task_label",
    "status",
    "priority",
    "priority_label",
    "flagged",
    "ai",
    "study_result",
    "final",  # the decision once reviewed (issue 23 item 5)
    "image_count",
    "created_at",
    "status_changed_at",
}


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["results"]]


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "errors"} and body["code"] == code, body
    return body


def _walk(client, url: str) -> tuple[list[int], list[str]]:
    """Every page from ``url`` on, following ``next``: the ids in order and the page URLs."""
    ids: list[int] = []
    pages: list[str] = []
    while url:
        pages.append(url)
        response = client.get(url)
        ids += _ids(response)
        url = response.json()["next"]
    return ids, pages


@pytest.fixture
def varied(site, radiologist, make_case):
    """Nine cases of ``site`` with mixed priority, AI summary, flags and two ties on created_at."""
    specs = [
        # priority, ai_label, positive, uncertainty, status, flagged
        (0, "glioma", True, 0.9, "predicted", False),
        (0, "notumor", False, 0.1, "predicted", False),
        (2, "meningioma", True, 0.5, "in_review", False),
        (0, "", False, None, "received", True),
        (1, "notumor", False, 0.7, "predicted", False),
        (0, "glioma", True, 0.3, "reviewed", False),
        (1, "pituitary", True, None, "failed", False),
        (0, "notumor", False, 0.9, "predicted", True),
        (0, "glioma", True, 0.3, "predicted", False),
    ]
    cases = []
    for priority, label, positive, uncertainty, status, flagged in specs:
        case = make_case(
            site, task="brain_mri", status=status, flagged=flagged, priority=priority, modality="MR"
        )
        case.ai_label, case.ai_positive, case.ai_uncertainty = label, positive, uncertainty
        case.save()
        cases.append(case)
    # Ties: the cursor must break them on the primary key.
    same = timezone.now() - dt.timedelta(days=3)
    Case.objects.filter(pk__in=[cases[5].pk, cases[8].pk, cases[1].pk]).update(created_at=same)
    Case.objects.filter(pk=cases[3].pk).update(created_at=timezone.now() - dt.timedelta(days=10))
    cases[0].assignee = radiologist
    cases[0].save()
    return cases


def _expected(user, order: str) -> list[int]:
    return list(worklist_for_user(user=user, order=order).values_list("pk", flat=True))


# --- shape and scope -------------------------------------------------------------------


def test_lists_only_the_sites_cases_in_the_list_shape(radiologist, other_site, make_case, token_client):
    mine = make_case(radiologist.site, images=3)
    make_case(other_site)
    response = token_client(radiologist).get(URL)
    body = response.json()
    assert _ids(response) == [mine.pk]
    assert body["next"] is None and body["previous"] is None
    item = body["results"][0]
    assert set(item) == ITEM_KEYS
    assert item["url"] == f"http://testserver/api/v1/cases/{mine.pk}/"
    assert item["site"] == "uh-radiology" and item["image_count"] == 3
    assert item["task"] == "lung_ct" and item["task_label"]
    assert item["priority"] == 0 and item["priority_label"] == "Routine"
    assert set(item["ai"]) == {"label", "confidence", "uncertainty", "positive", "untrained", "outside_scope"}


def test_other_sites_cases_are_never_listed_whatever_the_filter(
    radiologist,
    other_site,
    make_case,
    token_client,
):
    theirs = make_case(other_site, status="predicted", flagged=True)
    client = token_client(radiologist)
    for query in ("", "?status=predicted", "?flagged=true", "?order=waiting", "?order=uncertainty"):
        assert theirs.pk not in _ids(client.get(URL + query))


def test_curator_sees_every_site_and_filters_by_site_code(
    curator,
    site,
    other_site,
    make_case,
    token_client,
):
    here, there = make_case(site), make_case(other_site)
    client = token_client(curator)
    assert sorted(_ids(client.get(URL))) == sorted([here.pk, there.pk])
    assert _ids(client.get(URL, {"site": "cc-oncology"})) == [there.pk]
    body = _error(client.get(URL, {"site": str(other_site.pk)}), 400, "invalid")
    assert list(body["errors"]) == ["site"]


def test_site_filter_is_unknown_to_accounts_of_one_site(radiologist, token_client):
    body = _error(token_client(radiologist).get(URL, {"site": "cc-oncology"}), 400, "invalid")
    assert body["errors"] == {"site": ["Unknown query parameter."]}


def test_anonymous_and_role_less_are_refused(no_role_user, token_client):
    _error(APIClient().get(URL), 401, "not_authenticated")
    _error(token_client(no_role_user).get(URL), 403, "permission_denied")


# --- filters ------------------------------------------------------------------------


def test_each_filter(radiologist, varied, token_client):
    client = token_client(radiologist)
    c = varied

    def listed(**params) -> set[int]:
        return set(_ids(client.get(URL, params)))

    assert listed(status="predicted") == {c[0].pk, c[1].pk, c[4].pk, c[7].pk, c[8].pk}
    assert listed(ai_label="glioma") == {c[0].pk, c[5].pk, c[8].pk}
    assert listed(ai_label="positive") == {c[0].pk, c[2].pk, c[5].pk, c[6].pk, c[8].pk}
    assert listed(flagged="true") == {c[3].pk, c[7].pk}
    assert listed(mine="true") == {c[0].pk}
    assert listed(task="brain_mri") == {case.pk for case in c}
    assert listed(task="lung_ct") == set()
    old = (timezone.now() - dt.timedelta(days=5)).date()
    assert listed(received_to=old.isoformat()) == {c[3].pk}
    assert c[3].pk not in listed(received_from=old.isoformat())
    assert len(listed(received_from=old.isoformat())) == 8
    assert listed(status="predicted", ai_label="notumor", flagged="true") == {c[7].pk}


def test_finding_means_any_image_whose_newest_done_prediction_says_it(
    radiologist,
    site,
    make_case,
    token_client,
):
    version = ModelVersion.objects.create(
        name="m", version="1", task="brain_mri", arch="x", bundle_path="-", weights_sha256="0" * 64,
        class_names=["glioma", "meningioma", "notumor", "pituitary"], card={},
    )  # fmt: skip
    other = ModelVersion.objects.create(
        name="m", version="2", task="brain_mri", arch="x", bundle_path="-", weights_sha256="0" * 64,
        class_names=["glioma", "meningioma", "notumor", "pituitary"], card={},
    )  # fmt: skip
    two_images = make_case(site, images=2, task="brain_mri")
    first, second = two_images.images.order_by("pk")
    Prediction.objects.create(image=first, model_version=version, status="done", label="notumor")
    Prediction.objects.create(image=second, model_version=version, status="done", label="glioma")
    # The case's summary says notumor, yet one image's newest prediction is glioma.
    Case.objects.filter(pk=two_images.pk).update(ai_label="notumor")
    superseded = make_case(site, task="brain_mri")
    image = superseded.images.get()
    Prediction.objects.create(image=image, model_version=version, status="done", label="glioma")
    Prediction.objects.create(image=image, model_version=other, status="done", label="meningioma")
    unfinished = make_case(site, task="brain_mri")
    Prediction.objects.create(
        image=unfinished.images.get(), model_version=version, status="running", label="glioma"
    )

    client = token_client(radiologist)
    assert _ids(client.get(URL, {"finding": "glioma"})) == [two_images.pk]
    assert _ids(client.get(URL, {"finding": "meningioma"})) == [superseded.pk]
    assert _ids(client.get(URL, {"finding": "pituitary"})) == []
    assert _ids(client.get(URL, {"finding": "glioma", "ai_label": "notumor"})) == [two_images.pk]
    _error(client.get(URL, {"finding": "banana"}), 400, "invalid")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "lost"}, "status"),
        ({"task": "liver_us"}, "task"),
        ({"ai_label": "banana"}, "ai_label"),
        ({"received_from": "yesterday"}, "received_from"),
        ({"order": "random"}, "order"),
    ],
)
def test_invalid_values_are_400_with_the_fields_errors(radiologist, token_client, params, field):
    body = _error(token_client(radiologist).get(URL, params), 400, "invalid")
    assert list(body["errors"]) == [field] and body["errors"][field][0]


def test_unknown_parameters_are_400(radiologist, token_client):
    body = _error(token_client(radiologist).get(URL, {"stauts": "predicted", "limit": "5"}), 400, "invalid")
    assert body["errors"] == {"limit": ["Unknown query parameter."], "stauts": ["Unknown query parameter."]}
    assert "limit, stauts" in body["message"]


# --- orders and the cursor ---------------------------------------------------------------


def test_cursor_keys_are_the_worklist_orderings():
    findings = sort_keys(WORKLIST_ORDERINGS[WorklistOrder.FINDINGS], WorklistCursor.annotations)
    assert [(k.name, k.descending) for k in findings] == [
        ("priority", True),
        ("unread_rank", True),
        ("ai_positive", True),
        ("uncertainty_rank", True),
        ("created_at", True),
        ("pk", True),
    ]
    waiting = sort_keys(WORKLIST_ORDERINGS[WorklistOrder.WAITING], WorklistCursor.annotations)
    assert [(k.name, k.descending) for k in waiting] == [
        ("priority", True),
        ("created_at", False),
        ("pk", False),
    ]


@pytest.mark.parametrize("order", WorklistOrder.values)
def test_each_order_matches_the_web_worklist(radiologist, varied, token_client, order):
    expected = _expected(radiologist, order)
    assert _ids(token_client(radiologist).get(URL, {"order": order})) == expected
    assert len(expected) == len(varied)


def test_default_order_is_findings_first(radiologist, varied, token_client):
    ids = _ids(token_client(radiologist).get(URL))
    assert ids == _expected(radiologist, WorklistOrder.FINDINGS)
    assert ids[0] == varied[2].pk  # STAT leads


@pytest.mark.parametrize("order", WorklistOrder.values)
def test_cursor_walk_returns_every_case_once_in_order_and_back(
    radiologist,
    other_site,
    varied,
    make_case,
    token_client,
    order,
):
    make_case(other_site)
    client = token_client(radiologist)
    ids, pages = _walk(client, f"http://testserver{URL}?order={order}&flagged=false&page_size=2")
    assert ids == _expected(radiologist, order)  # each visible case exactly once, in the order
    assert len(pages) == 5
    for page in pages[1:]:
        query = parse_qs(urlparse(page).query)
        assert query["order"] == [order] and query["page_size"] == ["2"] and query["flagged"] == ["false"]
    # And back from the last page through ``previous``.
    last = client.get(pages[-1]).json()
    back: list[int] = [item["id"] for item in last["results"]]
    url = last["previous"]
    while url:
        body = client.get(url).json()
        back = [item["id"] for item in body["results"]] + back
        url = body["previous"]
    assert back == ids
    assert client.get(pages[0]).json()["previous"] is None


def test_new_cases_do_not_shift_the_pages_being_walked(radiologist, varied, make_case, token_client):
    client = token_client(radiologist)
    first = client.get(URL, {"order": "waiting", "page_size": 4}).json()
    make_case(radiologist.site, priority=0)  # newest: the end of the "waiting" order
    rest, _ = _walk(client, first["next"])
    seen = [item["id"] for item in first["results"]] + rest
    assert seen == _expected(radiologist, "waiting")


def test_tampered_forged_and_other_order_cursors_are_400(radiologist, varied, token_client):
    client = token_client(radiologist)
    next_url = client.get(URL, {"order": "newest", "page_size": 2}).json()["next"]
    cursor = parse_qs(urlparse(next_url).query)["cursor"][0]
    tampered = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
    for params in (
        {"order": "newest", "cursor": tampered},
        {"order": "newest", "cursor": "eyJvIjoibmV3ZXN0In0"},
        {"order": "findings", "cursor": cursor},  # made for another order
    ):
        body = _error(client.get(URL, params), 404, "invalid_cursor")
        assert "Invalid cursor" in body["message"]
    assert client.get(URL, {"order": "newest", "cursor": cursor}).status_code == 200


def test_page_size_default_bounds_and_errors(radiologist, make_case, token_client):
    for _ in range(3):
        make_case(radiologist.site)
    client = token_client(radiologist)
    _error(client.get(URL, {"page_size": 500}), 400, "invalid")  # over 200: refused, as every list does
    assert len(_ids(client.get(URL, {"page_size": 1}))) == 1
    for bad in ("0", "-1", "ten"):
        _error(client.get(URL, {"page_size": bad}), 400, "invalid")
    assert WorklistCursor.page_size == 50 and WorklistCursor.max_page_size == 200


def test_query_count_is_the_same_for_3_and_30_cases(radiologist, make_case, token_client):
    client = token_client(radiologist)

    def count(params: dict) -> int:
        client.get(URL, params)  # warm: the token's last use is written once a minute at most
        with CaptureQueriesContext(connection) as queries:
            response = client.get(URL, params)
        assert response.status_code == 200
        return len(queries)

    for _ in range(3):
        make_case(radiologist.site, images=2)
    small = [count({}), count({"order": "uncertainty", "finding": "glioma", "page_size": 2})]
    for _ in range(27):
        make_case(radiologist.site, images=2)
    large = [count({}), count({"order": "uncertainty", "finding": "glioma", "page_size": 2})]
    assert small == large
    cursor_page = client.get(URL, {"page_size": 10}).json()["next"]
    with CaptureQueriesContext(connection) as queries:
        assert len(_ids(client.get(cursor_page))) == 10
    assert len(queries) == large[0]


def test_a_reviewed_case_carries_its_final_label_and_whether_the_ai_agreed(
    radiologist, make_case, token_client
):
    unread = make_case(radiologist.site, task="brain_mri", status="predicted", modality="MR")
    agreed = make_case(radiologist.site, task="brain_mri", status="reviewed", modality="MR")
    corrected = make_case(radiologist.site, task="brain_mri", status="reviewed", modality="MR")
    Case.objects.filter(pk__in=[unread.pk, agreed.pk, corrected.pk]).update(ai_label="glioma", ai_images=1)
    Case.objects.filter(pk=agreed.pk).update(final_label="glioma")
    Case.objects.filter(pk=corrected.pk).update(final_label="meningioma")

    body = token_client(radiologist).get(URL).json()
    final = {item["id"]: item["final"] for item in body["results"]}

    assert final[unread.pk] is None
    assert final[agreed.pk] == {"label": "glioma", "non_diagnostic": False, "ai_agreed": True}
    assert final[corrected.pk] == {"label": "meningioma", "non_diagnostic": False, "ai_agreed": False}
