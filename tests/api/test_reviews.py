"""Readings through the API: blinded double reads, submitting, disagreement, adjudication by a Curator."""

from __future__ import annotations

import pytest

from cases.models import Adjudication, AuditEvent, CaseStatus, Review, ReviewPolicy, Task

pytestmark = pytest.mark.django_db

REVIEW_KEYS = {
    "id", "case", "image", "reviewer", "decision", "label", "note", "ai_label", "ai_model_version",
    "ai_visible", "submitted_at", "seconds_spent",
}  # fmt: skip


def reviews_url(case) -> str:
    return f"/api/v1/cases/{case.pk}/reviews/"


def error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "errors"} and body["code"] == code, body
    return body


@pytest.fixture
def double_read(db):
    return ReviewPolicy.objects.create(task=Task.BRAIN_MRI, readers_required=2)


@pytest.fixture
def second_reviewer(make_user, site):
    return make_user("rev2", "Reviewer", site)


def test_a_reading_is_saved_with_the_ai_result_and_moves_the_case(token_client, reviewer, predicted):
    case = predicted[0]
    image = case.images.get()
    prediction = image.predictions.get()
    response = token_client(reviewer, "read,review").post(
        reviews_url(case), {"image": image.pk, "label": prediction.label, "note": " rim "}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == REVIEW_KEYS | {"case_status"}
    assert body["case_status"] == "reviewed" and body["decision"] == "confirm" and body["note"] == "rim"
    assert body["reviewer"] == "rev" and body["ai_label"] == prediction.label and body["case"] == case.pk
    assert body["ai_model_version"] == str(prediction.model_version)
    assert AuditEvent.objects.get(action="review.submitted").source == "api"
    listed = token_client(reviewer, "read").get(reviews_url(case)).json()
    assert listed["next"] is None and [r["id"] for r in listed["results"]] == [body["id"]]


def test_non_diagnostic(token_client, reviewer, predicted):
    case = predicted[0]
    response = token_client(reviewer, "read,review").post(
        reviews_url(case), {"image": case.images.get().pk, "non_diagnostic": True}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["decision"] == "non_diagnostic" and response.json()["label"] == ""


@pytest.mark.parametrize(
    ("payload", "status", "code", "where"),
    [
        ({"label": "glioma", "non_diagnostic": True}, 400, "invalid", "non_field_errors"),
        ({}, 400, "invalid", "non_field_errors"),
        ({"label": "glioma", "lable": "x"}, 400, "invalid", "lable"),
        ({"label": "cat"}, 400, "invalid", "choose one of: glioma, meningioma, notumor, pituitary"),
    ],
)
def test_bad_readings_are_refused_and_nothing_is_stored(
    token_client, reviewer, predicted, payload, status, code, where
):
    case = predicted[0]
    response = token_client(reviewer, "read,review").post(
        reviews_url(case), {"image": case.images.get().pk, **payload}, format="json"
    )
    body = error(response, status, code)
    assert where in body["errors"] or where in body["message"], body
    assert not Review.objects.exists()


def test_reading_twice_is_a_conflict(token_client, reviewer, predicted):
    case = predicted[0]
    client = token_client(reviewer, "read,review")
    payload = {"image": case.images.get().pk, "label": "glioma"}
    assert client.post(reviews_url(case), payload, format="json").status_code == 201
    # Reviewed already; a second reading by the same reader is refused with the service's reason.
    body = error(client.post(reviews_url(case), payload, format="json"), 409, "conflict")
    assert body["message"] == "you have already reviewed this image"
    assert Review.objects.count() == 1


def test_no_reading_once_the_label_is_final(token_client, reviewer, second_reviewer, predicted):
    """Issue 23, final is final: the required reading is in, so another reader is refused with the reason."""
    case = predicted[0]
    payload = {"image": case.images.get().pk, "label": "glioma"}
    assert (
        token_client(reviewer, "read,review").post(reviews_url(case), payload, format="json").status_code
        == 201
    )
    response = token_client(second_reviewer, "read,review").post(reviews_url(case), payload, format="json")
    body = error(response, 409, "conflict")
    assert "final label stands" in body["message"]
    assert Review.objects.count() == 1


def test_an_image_of_another_case_or_site_is_not_found(
    token_client, reviewer, make_user, other_site, predicted
):
    first, second = predicted
    client = token_client(reviewer, "read,review")
    foreign_image = second.images.get()
    body = error(
        client.post(reviews_url(first), {"image": foreign_image.pk, "label": "glioma"}, format="json"),
        404,
        "not_found",
    )
    assert foreign_image.sop_instance_uid not in str(body)
    outsider = token_client(make_user("rev-cc", "Reviewer", other_site), "read,review")
    for response in (
        outsider.get(reviews_url(first)),
        outsider.post(reviews_url(first), {"image": first.images.get().pk, "label": "glioma"}, format="json"),
    ):
        assert error(response, 404, "not_found")["errors"] == {}
        assert first.study.patient.pseudonym not in response.content.decode()
    assert not Review.objects.exists()


def test_reviewing_needs_the_review_scope_and_role(
    token_client, reviewer, integration, radiologist, predicted
):
    case = predicted[0]
    payload = {"image": case.images.get().pk, "label": "glioma"}
    read_only = token_client(reviewer, "read").post(reviews_url(case), payload, format="json")
    assert "'review' scope" in error(read_only, 403, "permission_denied")["message"]
    for account in (integration, radiologist):  # no review_case: an Integration account never reads images
        refused = token_client(account, "read,review").post(reviews_url(case), payload, format="json")
        assert "cannot review cases" in error(refused, 403, "permission_denied")["message"]
    assert not Review.objects.exists()


def test_blinded_double_read_then_disagreement_then_adjudication(
    token_client, reviewer, second_reviewer, curator, double_read, predicted
):
    case = predicted[0]
    image = case.images.get()
    first = token_client(reviewer, "read,review")
    second = token_client(second_reviewer, "read,review")
    mine = "glioma"
    theirs = "meningioma"
    response = first.post(
        reviews_url(case), {"image": image.pk, "label": mine, "note": "ring"}, format="json"
    )
    assert response.status_code == 201 and response.json()["case_status"] == "in_review"

    # The second reader sees nothing of the first reading until they have read the image.
    detail = second.get(f"/api/v1/cases/{case.pk}/").json()
    assert detail["readers_required"] == 2
    (shown,) = detail["images"]
    assert shown["reviews"] == [] and shown["hidden_readings"] == 1
    assert "ring" not in str(detail)  # nor the first reader's note
    assert second.get(reviews_url(case)).json()["results"] == []
    # The first reader sees their own reading.
    (own,) = first.get(f"/api/v1/cases/{case.pk}/").json()["images"]
    assert [r["label"] for r in own["reviews"]] == [mine] and own["hidden_readings"] == 0
    assert [r["note"] for r in first.get(reviews_url(case)).json()["results"]] == ["ring"]

    response = second.post(reviews_url(case), {"image": image.pk, "label": theirs}, format="json")
    assert response.status_code == 201 and response.json()["case_status"] == "adjudication"
    listed = second.get(reviews_url(case)).json()["results"]
    assert sorted(r["label"] for r in listed) == sorted([mine, theirs])

    # No third reading now: the case waits for a Curator.
    conflict = token_client(curator, "read,review").post(
        reviews_url(case), {"image": image.pk, "label": mine}, format="json"
    )
    assert "adjudication" in error(conflict, 409, "conflict")["message"]

    # Curators see the disagreement in the queue and decide it.
    cur = token_client(curator, "read,review")
    queue = cur.get("/api/v1/adjudications/").json()
    (item,) = queue["results"]
    assert item["id"] == case.pk and item["status"] == "adjudication" and item["image_count"] == 1
    (disputed,) = item["disputed"]
    assert disputed["image"] == image.pk and disputed["adjudicated"] is False
    assert [r["label"] for r in disputed["readings"]] == [mine, theirs]
    response = cur.post(
        f"/api/v1/cases/{case.pk}/adjudications/", {"image": image.pk, "label": theirs, "note": "dural tail"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    body = response.json()
    decision = Adjudication.objects.get()
    assert body == {
        "id": decision.pk,
        "case": case.pk,
        "image": image.pk,
        "label": theirs,
        "non_diagnostic": False,
        "curator": "cur",
        "note": "dural tail",
        "decided_at": body["decided_at"],
        "case_status": "reviewed",
    }
    case.refresh_from_db()
    assert case.status == CaseStatus.REVIEWED
    assert AuditEvent.objects.get(action="adjudication.decided").source == "api"
    assert cur.get("/api/v1/adjudications/").json()["results"] == []
    (final,) = second.get(f"/api/v1/cases/{case.pk}/").json()["images"]
    assert final["adjudication"]["label"] == theirs and final["adjudication"]["curator"] == "cur"

    again = cur.post(
        f"/api/v1/cases/{case.pk}/adjudications/", {"image": image.pk, "label": mine}, format="json"
    )
    error(again, 409, "conflict")


def test_adjudication_is_for_curators(token_client, reviewer, radiologist, predicted):
    case = predicted[0]
    for account in (reviewer, radiologist):
        client = token_client(account, "read,review")
        assert (
            "Only Curators"
            in error(client.get("/api/v1/adjudications/"), 403, "permission_denied")["message"]
        )
        refused = client.post(
            f"/api/v1/cases/{case.pk}/adjudications/", {"image": case.images.get().pk, "label": "glioma"},
            format="json",
        )  # fmt: skip
        error(refused, 403, "permission_denied")


def test_adjudicating_a_case_nobody_disputed_is_a_conflict(token_client, curator, predicted):
    case = predicted[0]
    response = token_client(curator, "read,review").post(
        f"/api/v1/cases/{case.pk}/adjudications/", {"image": case.images.get().pk, "label": "glioma"},
        format="json",
    )  # fmt: skip
    assert "not awaiting adjudication" in error(response, 409, "conflict")["message"]
