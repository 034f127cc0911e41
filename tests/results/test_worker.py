"""Results sent by a real Celery worker process (Redis broker) to a real storage SCP in this process."""

from __future__ import annotations

import pytest

from cases.models import AuditSource
from cases.services.audit import AuditContext
from results.delivery import deliveries_create
from results.models import DeliveryStatus, ResultDelivery
from results.services.delivery import deliveries_resend
from tests.results.conftest import ORIGINAL, dimse_destination
from tests.worker import redis_url, wait_for, worker_sharing_media

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture
def worker(transactional_db, settings, tmp_path, monkeypatch):
    # No serialized rollback: a serialized test after a flushed (transactional) one cannot restore
    # its content types, and the DIMSE and DICOMweb tests before this one are transactional.
    monkeypatch.setenv("ONCOPORTAL_RESULTS_RETRIES", "0.2,0.2")  # the worker's schedule: three quick attempts
    with worker_sharing_media(settings=settings, tmp_path=tmp_path, url=redis_url(7)) as proc:
        yield proc


def _statuses(destination) -> set[str]:
    return set(ResultDelivery.objects.filter(destination=destination).values_list("status", flat=True))


def test_the_worker_sends_a_case_in_one_association_reidentified(
    worker, site, make_results, keep_identity, scp
):
    peer = scp()
    case, objects = make_results(site)
    keep_identity(case)
    destination = dimse_destination(peer)
    deliveries_create(results=objects)  # queued on commit, to Redis
    wait_for(
        lambda: _statuses(destination) == {DeliveryStatus.SUCCEEDED},
        what="the deliveries to succeed",
        log_path=worker.log_path,
    )
    assert peer.associations == 1
    assert {ds.PatientID for ds in peer.received().values()} == {ORIGINAL["PatientID"]}


def test_a_refusing_peer_is_retried_by_the_worker_then_given_up_and_resend_delivers(
    worker, site, curator, make_results, scp
):
    peer = scp()
    peer.refuse()
    _case, objects = make_results(site)
    destination = dimse_destination(peer)
    deliveries_create(results=objects)
    wait_for(
        lambda: _statuses(destination) == {DeliveryStatus.GAVE_UP},
        what="the deliveries to be given up",
        log_path=worker.log_path,
    )
    rows = list(ResultDelivery.objects.filter(destination=destination))
    assert {row.attempts for row in rows} == {3}
    assert all(row.last_error.startswith("association rejected") for row in rows)
    assert peer.received() == {}

    peer.refuse(False)
    deliveries_resend(deliveries=rows, audit=AuditContext.system(source=AuditSource.WEB, actor=curator))
    wait_for(
        lambda: _statuses(destination) == {DeliveryStatus.SUCCEEDED},
        what="the resent deliveries to succeed",
        log_path=worker.log_path,
    )
    assert len(peer.received()) == len(objects) and peer.associations == 1
