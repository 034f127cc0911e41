"""Case events queue building; the build task queues deliveries; the admin shows the log and resends."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from cases.models import AuditEvent
from cases.services.events import case_event_send
from results import tasks
from results.models import DeliveryStatus, ResultDelivery, ResultKind
from tests.results.conftest import dimse_destination

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("event", "trigger"),
    [
        ("prediction.completed", "prediction"),
        ("review.completed", "review"),
        ("case.adjudicated", "review"),
        ("case.failed", None),
    ],
)
def test_case_events_queue_building_after_commit(
    make_case, site, mocker, django_capture_on_commit_callbacks, event, trigger
):
    delay = mocker.patch("results.receivers.build_and_send.delay")
    case = make_case(site)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        case_event_send(event=event, case_id=case.pk)
    delay.assert_not_called()  # nothing before the commit
    for callback in callbacks:
        callback()
    if trigger is None:
        delay.assert_not_called()
    else:
        delay.assert_called_once_with(case.pk, trigger)


def test_no_building_when_switched_off(make_case, site, mocker, settings, django_capture_on_commit_callbacks):
    settings.RESULTS_BUILD = False
    delay = mocker.patch("results.receivers.build_and_send.delay")
    with django_capture_on_commit_callbacks(execute=True):
        case_event_send(event="prediction.completed", case_id=make_case(site).pk)
    delay.assert_not_called()


def test_the_build_task_queues_what_was_built_to_the_destinations(
    site, make_results, scp, mocker, django_capture_on_commit_callbacks
):
    case, objects = make_results(site, kinds=[ResultKind.SALIENCY_SC, ResultKind.REVIEW_SR])
    destination = dimse_destination(scp(), send_review_results=False)
    build = mocker.patch("results.delivery.results_build", return_value=objects)
    app = mocker.patch("results.delivery.current_app")
    with django_capture_on_commit_callbacks(execute=True):
        tasks.build_and_send(case.pk, "prediction")
    build.assert_called_once_with(case_id=case.pk, trigger="prediction")
    (delivery,) = ResultDelivery.objects.all()
    assert (delivery.result.kind, delivery.destination_id) == (ResultKind.SALIENCY_SC, destination.pk)
    app.send_task.assert_called_once_with(
        "results.tasks.deliver_results", args=[case.pk, destination.pk], countdown=None
    )


def test_nothing_built_means_nothing_queued(site, make_case, scp, mocker):
    dimse_destination(scp())
    mocker.patch("results.delivery.results_build", return_value=[])
    app = mocker.patch("results.delivery.current_app")
    tasks.build_and_send(make_case(site).pk, "review")
    assert ResultDelivery.objects.count() == 0
    app.send_task.assert_not_called()


@pytest.fixture
def given_up(site, make_results, scp):
    _case, objects = make_results(site, kinds=[ResultKind.AI_SR])
    destination = dimse_destination(scp())
    return ResultDelivery.objects.create(
        result=objects[0],
        destination=destination,
        status=DeliveryStatus.GAVE_UP,
        attempts=3,
        last_error="association rejected",
        log=[
            {
                "at": "2026-01-01T00:00:00+00:00",
                "outcome": "retry",
                "status": "",
                "detail": "association rejected",
            }
        ],
    )


def test_a_curator_sees_the_log_and_resends_from_the_admin(
    curator, given_up, mocker, django_capture_on_commit_callbacks
):
    app = mocker.patch("results.delivery.current_app")
    client = Client()
    client.force_login(curator)
    page = client.get(reverse("admin:results_resultobject_change", args=[given_up.result_id]))
    assert page.status_code == 200
    assert b"association rejected" in page.content
    listing = client.get(reverse("admin:results_resultdelivery_changelist") + "?status=gave_up")
    assert listing.status_code == 200 and b"Resend" in listing.content

    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(
            reverse("admin:results_resultdelivery_changelist"),
            {"action": "resend", "_selected_action": [given_up.pk]},
        )
    assert answer.status_code == 302
    given_up.refresh_from_db()
    assert (given_up.status, given_up.attempts) == (DeliveryStatus.PENDING, 0)
    assert given_up.log[-1]["detail"] == f"resend asked by {curator.username}"
    event = AuditEvent.objects.get(action="result.resend")
    assert (event.actor_id, event.source, event.object_id) == (curator.pk, "web", str(given_up.pk))
    app.send_task.assert_called_once()


def test_a_radiologist_cannot_see_or_resend_deliveries(radiologist, given_up):
    client = Client()
    client.force_login(radiologist)
    listing = client.get(reverse("admin:results_resultdelivery_changelist"))
    assert listing.status_code in (302, 403)
    client.post(
        reverse("admin:results_resultdelivery_changelist"),
        {"action": "resend", "_selected_action": [given_up.pk]},
    )
    given_up.refresh_from_db()
    assert given_up.status == DeliveryStatus.GAVE_UP


# --- The case page ------------------------------------------------------------------------------
def test_the_case_page_says_how_sending_went_and_a_curator_resends_from_it(
    curator, given_up, mocker, django_capture_on_commit_callbacks
):
    app = mocker.patch("results.delivery.current_app")
    case = given_up.result.case
    client = Client()
    client.force_login(curator)
    page = client.get(reverse("cases:case_detail", args=[case.pk]))
    assert page.status_code == 200
    assert b"Results to the PACS:" in page.content and b"1 gave up" in page.content
    assert b"Resend 1 not delivered" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(reverse("results:case_resend", args=[case.pk]))
    assert answer.status_code == 302
    given_up.refresh_from_db()
    assert given_up.status == DeliveryStatus.PENDING
    assert AuditEvent.objects.get(action="result.resend").source == "web"
    app.send_task.assert_called_once()


def test_only_curators_resend_from_the_case_page_and_other_sites_are_not_found(
    radiologist, other_radiologist, given_up
):
    case = given_up.result.case
    client = Client()
    client.force_login(radiologist)
    page = client.get(reverse("cases:case_detail", args=[case.pk]))
    assert b"Results to the PACS:" in page.content and b"Resend" not in page.content
    assert client.post(reverse("results:case_resend", args=[case.pk])).status_code == 403
    client.force_login(other_radiologist)
    assert client.post(reverse("results:case_resend", args=[case.pk])).status_code == 404
    given_up.refresh_from_db()
    assert given_up.status == DeliveryStatus.GAVE_UP
