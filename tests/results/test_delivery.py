"""Sending a case's result objects: one batch per destination to real peers (a pynetdicom SCP, dcmtk's
storescp, an HTTP STOW-RS server), re-identified in memory, with a log per object, retries and Resend.

The delivery function is called in this process here; test_worker.py sends through a real Celery worker.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone
from pydicom.uid import SecondaryCaptureImageStorage

from cases.models import AuditEvent, AuditSource, Image
from cases.services.audit import AuditContext
from results.delivery import batch_attempt, deliveries_create, deliveries_sweep
from results.models import DeliveryStatus, ResultDelivery, ResultKind
from results.outgoing import PSEUDONYMISED
from results.services.delivery import deliveries_resend
from tests.results.conftest import ORIGINAL, dimse_destination, files_under, stored_bytes, stow_destination
from tests.results.peers import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(mocker) -> list[tuple[int, int]]:
    """The (case, destination) batches queued after commit, instead of a broker."""
    batches: list[tuple[int, int]] = []
    app = mocker.patch("results.delivery.current_app")
    app.send_task.side_effect = lambda name, args, countdown: batches.append(tuple(args))
    return batches


def _deliveries(destination) -> list[ResultDelivery]:
    return list(ResultDelivery.objects.filter(destination=destination).order_by("result__series_number"))


def test_deliveries_only_to_active_destinations_that_take_the_site_and_the_kind(
    site, other_site, make_results, scp, queued, django_capture_on_commit_callbacks
):
    peer = scp()
    case, objects = make_results(site)
    everywhere = dimse_destination(peer, name="All sites")
    ai_only = dimse_destination(peer, site=site, name="AI only", send_review_results=False)
    dimse_destination(peer, site=other_site, name="Other site")
    dimse_destination(peer, name="Disabled", is_active=False)

    with django_capture_on_commit_callbacks(execute=True):
        created = deliveries_create(results=objects)
    again = deliveries_create(results=objects)  # idempotent: one delivery per object and destination

    pairs = sorted((d.destination.name, d.result.kind) for d in created)
    assert pairs == sorted(
        [("All sites", k) for k in (ResultKind.SALIENCY_SC, ResultKind.AI_SR, ResultKind.REVIEW_SR)]
        + [("AI only", ResultKind.SALIENCY_SC), ("AI only", ResultKind.AI_SR)]
    )
    assert sorted(d.pk for d in again) == sorted(d.pk for d in created)
    assert ResultDelivery.objects.count() == 5
    assert sorted(queued) == sorted([(case.pk, everywhere.pk), (case.pk, ai_only.pk)])
    assert all(d.status == DeliveryStatus.PENDING and d.log[0]["outcome"] == "queued" for d in created)


def test_a_case_goes_in_one_association_reidentified_while_the_stored_files_keep_the_pseudonym(
    site, make_results, keep_identity, scp, queued, media_dir, caplog
):
    caplog.set_level(logging.DEBUG)
    peer = scp()
    case, objects = make_results(site)
    keep_identity(case)
    destination = dimse_destination(peer)
    deliveries_create(results=objects)

    assert batch_attempt(case_id=case.pk, destination_id=destination.pk) is None

    assert peer.associations == 1 and peer.calling == ["ONCOSEND"]
    received = peer.received()
    assert sorted(received) == sorted(o.sop_instance_uid for o in objects)
    for ds in received.values():
        assert str(ds.PatientName) == ORIGINAL["PatientName"]
        assert ds.PatientID == ORIGINAL["PatientID"]
        assert ds.AccessionNumber == ORIGINAL["AccessionNumber"]
        assert ds.StudyInstanceUID == case.study.study_instance_uid
    pseudonym = case.study.patient.pseudonym.encode()
    for result in objects:
        assert pseudonym in stored_bytes(result)
    # The re-identified bytes were written nowhere on our side, and no identity reached a log line.
    for path in files_under(media_dir):
        assert ORIGINAL["PatientID"].encode() not in path.read_bytes()
    assert ORIGINAL["PatientID"] not in caplog.text and "Original" not in caplog.text
    for delivery in _deliveries(destination):
        assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 1
        assert delivery.last_status == "0x0000" and delivery.delivered_at is not None
        entry = delivery.log[-1]
        assert (entry["outcome"], entry["status"], entry["detail"], entry["attempt"]) == (
            "success",
            "0x0000",
            "stored",
            1,
        )


def test_without_a_kept_identity_the_objects_go_pseudonymised_and_the_log_says_so(
    site, make_results, scp, queued
):
    peer = scp()
    case, objects = make_results(site, kinds=[ResultKind.AI_SR])
    destination = dimse_destination(peer)
    deliveries_create(results=objects)
    batch_attempt(case_id=case.pk, destination_id=destination.pk)
    (ds,) = peer.received().values()
    assert ds.PatientID == case.study.patient.pseudonym
    (delivery,) = _deliveries(destination)
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.log[-1]["detail"] == f"stored; {PSEUDONYMISED}"


def test_a_warning_status_counts_as_stored_with_the_status_noted(site, make_results, scp, queued):
    peer = scp()
    peer.status = 0xB000
    case, objects = make_results(site, kinds=[ResultKind.SALIENCY_SC])
    destination = dimse_destination(peer)
    deliveries_create(results=objects)
    batch_attempt(case_id=case.pk, destination_id=destination.pk)
    (delivery,) = _deliveries(destination)
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.last_status == "0xB000"
    assert delivery.log[-1]["outcome"] == "warning"
    assert "Coercion of Data Elements" in delivery.log[-1]["detail"]


def test_a_permanent_dicom_failure_is_given_up_at_once_with_its_meaning(site, make_results, scp, queued):
    peer = scp()
    peer.status = 0xA900
    case, objects = make_results(site, kinds=[ResultKind.AI_SR])
    destination = dimse_destination(peer)
    deliveries_create(results=objects)
    assert batch_attempt(case_id=case.pk, destination_id=destination.pk) is None
    (delivery,) = _deliveries(destination)
    assert delivery.status == DeliveryStatus.GAVE_UP and delivery.attempts == 1
    assert delivery.last_status == "0xA900"
    assert delivery.last_error == "Data Set Does Not Match SOP Class"
    assert delivery.next_attempt_at is None
    assert peer.received() == {}


def test_a_refusing_peer_is_retried_on_schedule_then_given_up_and_resend_after_the_fix_succeeds(
    site, curator, make_results, keep_identity, scp, queued, settings, django_capture_on_commit_callbacks
):
    settings.RESULTS_RETRY_SCHEDULE = [10.0, 20.0]
    peer = scp()
    peer.refuse()
    case, objects = make_results(site, kinds=[ResultKind.SALIENCY_SC, ResultKind.AI_SR])
    keep_identity(case)
    destination = dimse_destination(peer)
    deliveries_create(results=objects)

    assert batch_attempt(case_id=case.pk, destination_id=destination.pk) == 10.0
    first = _deliveries(destination)
    assert {d.status for d in first} == {DeliveryStatus.FAILED}
    assert first[0].last_error.startswith("association rejected")
    assert first[0].next_attempt_at > timezone.now() + timedelta(seconds=5)
    # Not due yet: a second message (or a duplicate) claims nothing and contacts no one.
    assert batch_attempt(case_id=case.pk, destination_id=destination.pk) is None
    assert all(d.attempts == 1 for d in _deliveries(destination))

    ResultDelivery.objects.update(next_attempt_at=timezone.now())
    assert batch_attempt(case_id=case.pk, destination_id=destination.pk) == 20.0
    ResultDelivery.objects.update(next_attempt_at=timezone.now())
    assert batch_attempt(case_id=case.pk, destination_id=destination.pk) is None
    given_up = _deliveries(destination)
    assert {(d.status, d.attempts) for d in given_up} == {(DeliveryStatus.GAVE_UP, 3)}
    assert [e["outcome"] for e in given_up[0].log] == ["queued", "retry", "retry", "retry"]
    assert given_up[0].log[-1]["detail"].endswith("given up after 3 attempt(s)")
    assert peer.received() == {}

    peer.refuse(False)
    audit = AuditContext.system(source=AuditSource.WEB, actor=curator)
    with django_capture_on_commit_callbacks(execute=True):
        reset = deliveries_resend(deliveries=given_up, audit=audit)
    assert len(reset) == 2 and queued[-1] == (case.pk, destination.pk)
    assert {(d.status, d.attempts) for d in _deliveries(destination)} == {(DeliveryStatus.PENDING, 0)}
    assert batch_attempt(case_id=case.pk, destination_id=destination.pk) is None
    done = _deliveries(destination)
    assert {d.status for d in done} == {DeliveryStatus.SUCCEEDED}
    assert [e["outcome"] for e in done[0].log][-2:] == ["resend", "success"]
    assert done[0].log[-2]["detail"] == f"resend asked by {curator.username}"
    assert len(peer.received()) == 2
    events = AuditEvent.objects.filter(action="result.resend")
    assert events.count() == 2 and {e.actor_id for e in events} == {curator.pk}
    assert events.first().detail["destination"] == "Main PACS"


def test_nobody_listening_is_retried(site, make_results, queued):
    case, objects = make_results(site, kinds=[ResultKind.AI_SR])
    destination = dimse_destination(type("Nobody", (), {"ae_title": "PACS", "port": free_port()}))
    deliveries_create(results=objects)
    assert batch_attempt(case_id=case.pk, destination_id=destination.pk) is not None
    (delivery,) = _deliveries(destination)
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.last_error == "cannot connect (connection refused or timed out)"


def test_a_class_the_peer_does_not_store_is_given_up_while_the_rest_arrive(site, make_results, scp, queued):
    peer = scp(classes=(SecondaryCaptureImageStorage,))
    case, objects = make_results(site, kinds=[ResultKind.SALIENCY_SC, ResultKind.AI_SR])
    destination = dimse_destination(peer)
    deliveries_create(results=objects)
    batch_attempt(case_id=case.pk, destination_id=destination.pk)
    sc, sr = _deliveries(destination)
    assert sc.status == DeliveryStatus.SUCCEEDED
    assert sr.status == DeliveryStatus.GAVE_UP
    assert "accepted no presentation context for Comprehensive 3D SR Storage" in sr.last_error
    assert list(peer.received()) == [sc.result.sop_instance_uid]


@pytest.mark.services
def test_dcmtk_storescp_receives_the_case_reidentified(site, make_results, keep_identity, dcmtk_scp, queued):
    case, objects = make_results(site)
    keep_identity(case)
    destination = dimse_destination(dcmtk_scp, name="dcmtk")
    deliveries_create(results=objects)
    assert batch_attempt(case_id=case.pk, destination_id=destination.pk) is None
    assert {d.status for d in _deliveries(destination)} == {DeliveryStatus.SUCCEEDED}
    received = dcmtk_scp.received()
    assert sorted(ds.SOPInstanceUID for ds in received) == sorted(o.sop_instance_uid for o in objects)
    assert {ds.PatientID for ds in received} == {ORIGINAL["PatientID"]}


# --- STOW-RS --------------------------------------------------------------------------------
def _stow_answer(*, stored: list[str], failed: dict[str, int]) -> dict:
    answer: dict = {}
    if stored:
        answer["00081199"] = {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": [u]}} for u in stored]}
    if failed:
        answer["00081198"] = {
            "vr": "SQ",
            "Value": [
                {"00081155": {"vr": "UI", "Value": [u]}, "00081197": {"vr": "US", "Value": [code]}}
                for u, code in failed.items()
            ],
        }
    return answer


def test_stow_sends_one_authenticated_multipart_request_reidentified(
    site, make_results, keep_identity, stow_peer, queued
):
    case, objects = make_results(site)
    keep_identity(case)
    peer = stow_peer(200, _stow_answer(stored=[o.sop_instance_uid for o in objects], failed={}))
    destination = stow_destination(peer.url, auth="bearer", secret="pacs-token-1")
    deliveries_create(results=objects)
    assert batch_attempt(case_id=case.pk, destination_id=destination.pk) is None

    assert len(peer.requests) == 1
    path, headers, _ = peer.requests[0]
    assert path == "/dicom-web/studies"
    assert headers["authorization"] == "Bearer pacs-token-1"
    assert headers["content-type"].startswith('multipart/related; type="application/dicom"; boundary=')
    parts = peer.parts()
    assert sorted(ds.SOPInstanceUID for ds in parts) == sorted(o.sop_instance_uid for o in objects)
    assert {ds.PatientID for ds in parts} == {ORIGINAL["PatientID"]}
    assert {(d.status, d.last_status) for d in _deliveries(destination)} == {
        (DeliveryStatus.SUCCEEDED, "HTTP 200")
    }


def test_stow_partial_failure_is_recorded_per_object(site, make_results, stow_peer, queued):
    case, objects = make_results(site, kinds=[ResultKind.SALIENCY_SC, ResultKind.AI_SR, ResultKind.REVIEW_SR])
    sc, ai_sr, review_sr = objects
    answer = _stow_answer(
        stored=[sc.sop_instance_uid],
        failed={ai_sr.sop_instance_uid: 0xA900, review_sr.sop_instance_uid: 0xA700},
    )
    peer = stow_peer(202, answer)
    destination = stow_destination(peer.url, auth="basic", username="oncoportal", secret="s3cret")
    deliveries_create(results=objects)
    assert batch_attempt(case_id=case.pk, destination_id=destination.pk) is not None  # the 0xA700 one waits
    assert peer.requests[0][1]["authorization"] == "Basic b25jb3BvcnRhbDpzM2NyZXQ="
    by_uid = {d.result.sop_instance_uid: d for d in _deliveries(destination)}
    assert by_uid[sc.sop_instance_uid].status == DeliveryStatus.SUCCEEDED
    failed = by_uid[ai_sr.sop_instance_uid]
    assert (failed.status, failed.last_status, failed.last_error) == (
        DeliveryStatus.GAVE_UP,
        "HTTP 202 0xA900",
        "Data Set Does Not Match SOP Class",
    )
    busy = by_uid[review_sr.sop_instance_uid]
    assert (busy.status, busy.last_error) == (DeliveryStatus.FAILED, "Refused: Out of Resources")


@pytest.mark.parametrize(
    ("status", "expected"),
    [(503, DeliveryStatus.FAILED), (400, DeliveryStatus.GAVE_UP), (401, DeliveryStatus.GAVE_UP)],
)
def test_stow_errors_without_per_object_reasons(site, make_results, stow_peer, queued, status, expected):
    case, objects = make_results(site, kinds=[ResultKind.AI_SR])
    peer = stow_peer(status, b"PACS says no")
    destination = stow_destination(peer.url)
    deliveries_create(results=objects)
    batch_attempt(case_id=case.pk, destination_id=destination.pk)
    (delivery,) = _deliveries(destination)
    assert (delivery.status, delivery.last_status, delivery.last_error) == (
        expected,
        f"HTTP {status}",
        f"HTTP {status}: PACS says no",
    )


# --- Disabled destinations and the sweeper ----------------------------------------------------
def test_the_sweeper_requeues_overdue_batches_and_gives_up_on_disabled_destinations(
    site, make_results, scp, queued, django_capture_on_commit_callbacks
):
    peer = scp()
    case, objects = make_results(site, kinds=[ResultKind.AI_SR])
    live = dimse_destination(peer, name="Live")
    disabled = dimse_destination(peer, name="Soon disabled")
    deliveries_create(results=objects)
    queued.clear()
    ResultDelivery.objects.update(next_attempt_at=timezone.now() - timedelta(minutes=5))
    disabled.is_active = False
    disabled.save()

    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_sweep() == 1
    assert queued == [(case.pk, live.pk)]
    (gone,) = _deliveries(disabled)
    assert (
        gone.status == DeliveryStatus.GAVE_UP and gone.last_error == "not sent: the destination is disabled"
    )
    # Re-sent rows are due now, so the next sweep leaves them to their message.
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_sweep() == 0


# --- Our own STOW-RS endpoint as the peer ---------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_our_own_stow_rs_endpoint_stores_the_sc_and_refuses_the_srs_for_good(
    live_server, site, make_user, make_token, make_results, keep_identity, queued
):
    # This very platform plays the PACS, through its STOW-RS endpoint and an Integration account's
    # token of the case's own site (another site's account is refused the study: it belongs to this one).
    pacs_account = make_user("pacs.uh", "Integration", site)
    case, objects = make_results(site)
    keep_identity(case)
    destination = stow_destination(
        f"{live_server.url}/dicomweb", auth="bearer", secret=make_token(pacs_account, "read,upload")
    )
    deliveries_create(results=objects)
    batch_attempt(case_id=case.pk, destination_id=destination.pk)

    by_kind = {d.result.kind: d for d in _deliveries(destination)}
    stored = by_kind[ResultKind.SALIENCY_SC]
    assert (stored.status, stored.last_status) == (DeliveryStatus.SUCCEEDED, "HTTP 202")
    # The intake takes images only: an SR is refused with a reason that will not change on a retry.
    for kind in (ResultKind.AI_SR, ResultKind.REVIEW_SR):
        refused = by_kind[kind]
        assert refused.status == DeliveryStatus.GAVE_UP and refused.attempts == 1
        assert refused.last_status.startswith("HTTP 202 0x")
    arrived = Image.objects.get(sop_instance_uid=stored.result.sop_instance_uid)
    assert arrived.series.study_id == case.study_id
