"""GET /api/v1/cases/{id}/results/ and POST /api/v1/results/{id}/resend/ (access per role and site: tests/access)."""

from __future__ import annotations

import pytest

from cases.models import AuditEvent
from results.models import DeliveryStatus, ResultDelivery, ResultKind
from tests.results.conftest import dimse_destination

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(site, make_results, scp):
    case, objects = make_results(site, kinds=[ResultKind.SALIENCY_SC, ResultKind.AI_SR])
    destination = dimse_destination(scp())
    delivery = ResultDelivery.objects.create(
        result=objects[1],
        destination=destination,
        status=DeliveryStatus.GAVE_UP,
        attempts=3,
        last_status="0xA900",
        last_error="Data Set Does Not Match SOP Class",
        log=[{"at": "2026-11-29T10:00:00+00:00", "outcome": "failed", "status": "0xA900", "detail": "x"}],
    )
    return case, objects, delivery


def test_a_case_lists_its_objects_with_their_deliveries(radiologist, token_client, sent):
    case, objects, _delivery = sent
    answer = token_client(radiologist, "read").get(f"/api/v1/cases/{case.pk}/results/")
    assert answer.status_code == 200
    body = answer.json()
    assert [o["sop_instance_uid"] for o in body] == [o.sop_instance_uid for o in objects]
    assert body[0]["deliveries"] == []
    (listed,) = body[1]["deliveries"]
    assert (listed["destination"], listed["status"], listed["last_status"]) == (
        "Main PACS",
        "gave_up",
        "0xA900",
    )
    assert listed["log"][0]["outcome"] == "failed"


def test_a_curator_resends_an_object_through_the_api(
    curator, token_client, sent, mocker, django_capture_on_commit_callbacks
):
    app = mocker.patch("results.delivery.current_app")
    case, objects, delivery = sent
    with django_capture_on_commit_callbacks(execute=True):
        answer = token_client(curator, "admin").post(f"/api/v1/results/{objects[1].pk}/resend/")
    assert answer.status_code == 202, answer.json()
    (listed,) = answer.json()["deliveries"]
    assert (listed["status"], listed["attempts"]) == ("pending", 0)
    assert listed["log"][-1]["detail"] == f"resend asked by {curator.username}"
    assert AuditEvent.objects.get(action="result.resend").source == "api"
    app.send_task.assert_called_once_with(
        "results.tasks.deliver_results", args=[case.pk, delivery.destination_id], countdown=None
    )


def test_an_object_never_queued_cannot_be_resent(curator, token_client, sent):
    _case, objects, _delivery = sent
    answer = token_client(curator, "admin").post(f"/api/v1/results/{objects[0].pk}/resend/")
    assert answer.status_code == 409
    assert "never queued" in answer.json()["message"]
