"""A case's audit trail over the API: Curators only, the case's own events and its parts', oldest first."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.models import AuditSource, Case, Priority
from cases.selectors import audit_trail_for_case
from cases.services.audit import AuditContext, audit_record
from cases.services.case import case_set_priority
from cases.services.intake import intake_sources
from cases.services.review import review_submit
from inference.models import Prediction
from inference.services import model_version_retire

pytestmark = pytest.mark.django_db

FIELDS = {
    "id", "at", "action", "actor", "source", "ip_address", "user_agent", "object_type", "object_id", "detail",
}  # fmt: skip


def _url(case) -> str:
    return f"/api/v1/cases/{case.pk}/audit/"


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "errors"} and body["code"] == code, body
    return body


def _ingest(path, *, site, user):
    report = intake_sources(
        uploads=[(path.name, path.read_bytes())], site=site, user=user, source="web", task="brain_mri"
    )
    (case_id,) = report.case_ids
    return Case.objects.get(pk=case_id)


@pytest.fixture
def other_site_case(data_dir, other_site, other_radiologist):
    path = sorted((data_dir / "brain_mri" / "train" / "glioma").glob("*.jpg"))[0]
    return _ingest(path, site=other_site, user=other_radiologist)


@pytest.fixture
def trail(brain_case, site, radiologist, reviewer, random_model):
    """A case with events on itself, its image, a review and a prediction; another case's events beside it."""
    case, other = brain_case.order_by("pk")
    image, other_image = case.images.get(), other.images.get()
    web = AuditContext(actor=radiologist, source=AuditSource.WEB, ip="10.0.0.7", user_agent="firefox")
    case_set_priority(case=case, priority=Priority.URGENT, user=radiologist, audit=web)
    audit_record(action="image.viewed", obj=image, site=site, audit=web)
    prediction = Prediction.objects.create(image=image, model_version=random_model, untrained=True)
    audit_record(action="prediction.viewed", obj=prediction, site=site, audit=web)
    review_submit(case=case, image=image, reviewer=reviewer, label="glioma")
    # Not about this case: another case, its image and review, a model, an event with no object.
    case_set_priority(case=other, priority=Priority.STAT, user=radiologist)
    audit_record(action="image.viewed", obj=other_image, site=site, audit=web)
    review_submit(case=other, image=other_image, reviewer=reviewer, label="glioma")
    model_version_retire(version=random_model)
    audit_record(action="login", actor=radiologist)
    return case


def test_curator_reads_the_cases_trail_oldest_first(token_client, curator, trail):
    response = token_client(curator, "admin").get(_url(trail))
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"next", "previous", "results"} and body["next"] is None
    events = body["results"]
    assert [(e["action"], e["object_type"]) for e in events] == [
        ("case.created", "cases.case"),
        ("case.priority_changed", "cases.case"),
        ("image.viewed", "cases.image"),
        ("prediction.viewed", "inference.prediction"),
        ("review.submitted", "cases.review"),
    ]
    assert (
        events[0]["actor"] == "rad"
        and events[0]["source"] == ""
        and events[0]["detail"] == {"task": "brain_mri"}
    )  # recorded by the intake, with no way in given
    first = events[1]
    assert set(first) == FIELDS
    assert first["actor"] == "rad" and first["source"] == "web" and first["ip_address"] == "10.0.0.7"
    assert first["user_agent"] == "firefox" and first["object_id"] == str(trail.pk)
    assert first["detail"] == {"from": Priority.ROUTINE, "to": Priority.URGENT}
    assert events[4]["actor"] == "rev" and events[4]["detail"]["case"] == trail.pk
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)


def test_the_trail_is_one_query_and_pages_forward(token_client, curator, trail):
    with CaptureQueriesContext(connection) as queries:
        assert len(list(audit_trail_for_case(case=trail))) == 5
    assert len(queries) == 1
    client = token_client(curator, "admin")
    page = client.get(_url(trail) + "?page_size=3").json()
    assert len(page["results"]) == 3 and page["next"]
    rest = client.get(page["next"]).json()
    assert [e["action"] for e in rest["results"]] == ["prediction.viewed", "review.submitted"]
    assert rest["next"] is None
    _error(client.get(_url(trail) + "?action=login"), 400, "invalid")


def test_denials(token_client, curator, radiologist, reviewer, make_user, other_site, trail, other_site_case):
    body = _error(token_client(curator, "read,upload,review").get(_url(trail)), 403, "permission_denied")
    assert "'admin' scope" in body["message"]
    for user in (radiologist, reviewer):  # their own site's case: their role may not read trails
        body = _error(token_client(user, "read,admin").get(_url(trail)), 403, "permission_denied")
        assert body["message"] == "Your role may not read audit trails." and "priority" not in str(body)
    # A site account that may read trails still sees only its own site's cases: another site's is a 404.
    auditor = make_user("site-auditor", "Radiologist", other_site)
    auditor.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    body = _error(token_client(auditor, "admin").get(_url(trail)), 404, "not_found")
    assert "priority" not in str(body) and "rad" not in body["message"]
    own = token_client(auditor, "admin").get(_url(other_site_case)).json()["results"]
    assert [e["action"] for e in own] == ["case.created"]
    _error(token_client(curator, "admin").get("/api/v1/cases/999999/audit/"), 404, "not_found")
