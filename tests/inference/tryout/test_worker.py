"""The try-out's worker side: one image through the task's active model, expiry, lost messages, a real worker."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from cases.models import AuditEvent, Task
from inference.models import TryOut
from inference.scoring import tryout_overlay_name
from inference.tasks import expire_tryouts, run_predictions, run_tryout
from inference.tryout import worker
from inference.tryout.services import tryout_discard, tryout_start
from inference.tryout.worker import tryout_run, tryouts_expire
from oncoportal.celery import app
from tests.inference.conftest import files_under
from tests.worker import redis_url, wait_for, worker_sharing_media

pytestmark = pytest.mark.django_db


def test_the_worker_runs_the_case_pipelines_cached_predictor_once(
    start, radiologist, random_model, glioma, mocker
):
    created = start(radiologist, glioma)
    spy = mocker.spy(worker, "predictor_for")
    assert tryout_run(tryout_id=str(created.pk)) is True
    assert tryout_run(tryout_id=str(created.pk)) is False  # a second delivery does nothing
    spy.assert_called_once()
    assert [m.pk for m in spy.call_args.args[0]] == [random_model.pk]
    created.refresh_from_db()
    assert created.status == TryOut.Status.DONE and created.error == ""
    assert created.label in random_model.class_names
    assert set(created.probabilities) == set(random_model.class_names)
    assert abs(sum(created.probabilities.values()) - 1) < 1e-6
    assert created.confidence == max(created.probabilities.values())
    assert 0 <= created.uncertainty <= 1 and created.untrained and created.device
    assert created.members[0]["version"] == str(random_model)
    assert {"decode_ms", "forward_ms", "save_ms"} <= set(created.timings)
    # Issue 17: the worker stores the map's cells; the overlay is drawn when the page asks for it.
    assert created.saliency_raw.name == f"tryout/{created.pk}/cam.png" and created.overlay.name == ""
    assert created.saliency_geometry["geometry"]["original_hw"][0] > created.saliency_geometry["shape"][0]
    assert tryout_overlay_name(created) == f"tryout/{created.pk}/overlay.png"
    assert default_storage.open(f"tryout/{created.pk}/overlay.png").read()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_undecodable_stored_file_fails_with_a_reason(start, radiologist, random_model, glioma):
    created = start(radiologist, glioma)
    default_storage.delete(created.file.name)
    default_storage.save(created.file.name, io.BytesIO(b"garbage"))
    tryout_run(tryout_id=str(created.pk))
    created.refresh_from_db()
    assert created.status == TryOut.Status.FAILED and created.error.startswith("cannot decode image:")


def test_discarded_while_the_model_runs_leaves_no_file(
    start, radiologist, random_model, glioma, media_dir, mocker
):
    created = start(radiologist, glioma)
    real = worker.put

    def discard_then_store(*args, **kwargs):
        tryout_discard(tryout=created, user=radiologist)
        return real(*args, **kwargs)

    mocker.patch.object(worker, "put", side_effect=discard_then_store)
    assert tryout_run(tryout_id=str(created.pk)) is False
    assert not TryOut.objects.exists() and files_under(media_dir) == []


def test_expiry_deletes_files_then_rows(
    start, radiologist, random_model, glioma, data_dir, media_dir, mocker
):
    old = start(radiologist, glioma)
    fresh = start(radiologist, data_dir / "dicom" / "pydicom" / "CT_small.dcm")
    TryOut.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    row_present_while_deleting = []
    real = worker.tryout_delete_files

    def spy(*, storage_prefix):
        row_present_while_deleting.append(TryOut.objects.filter(pk=old.pk).exists())
        real(storage_prefix=storage_prefix)

    mocker.patch.object(worker, "tryout_delete_files", side_effect=spy)
    assert tryouts_expire() == 1
    assert row_present_while_deleting == [True]
    assert list(TryOut.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert files_under(media_dir, f"tryout/{old.pk}") == [] and not (media_dir / old.storage_prefix).exists()
    assert len(files_under(media_dir, fresh.storage_prefix)) == 2
    assert tryouts_expire() == 0
    # Recorded as a discard is, with the worker as the way in.
    event = AuditEvent.objects.get(action="tryout.deleted", object_id=str(old.pk))
    assert (event.source, event.actor, event.detail) == ("worker", None, {"reason": "expired"})
    assert event.site_id == old.site_id


def test_expiry_keeps_the_row_when_a_file_cannot_be_deleted(start, radiologist, random_model, glioma, mocker):
    old = start(radiologist, glioma)
    TryOut.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    mocker.patch.object(default_storage, "delete", side_effect=PermissionError("read-only"))
    assert tryouts_expire() == 0
    assert TryOut.objects.filter(pk=old.pk).exists()  # the next sweep tries again


def test_a_lost_message_is_sent_again_once_per_interval(
    start, radiologist, random_model, glioma, mocker, django_capture_on_commit_callbacks
):
    """A broker outage at start leaves the row queued; the periodic sweep sends it again."""
    lost = start(radiologist, glioma)
    fresh = start(radiologist, glioma)
    TryOut.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(minutes=2))
    send = mocker.patch.object(app, "send_task")
    with django_capture_on_commit_callbacks(execute=True):
        assert worker.tryouts_resend() == 1
    send.assert_called_once_with("inference.tasks.run_tryout", args=[str(lost.pk)])
    with django_capture_on_commit_callbacks(execute=True):
        assert worker.tryouts_resend() == 0  # just re-sent: not again at once
    assert TryOut.objects.get(pk=fresh.pk).started_at is None
    later = timezone.now() + timedelta(seconds=worker.RESEND_AFTER_S + 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert worker.tryouts_resend(now=later) == 2  # both are overdue by then
    # Claimed by a worker (running) or finished: never re-sent.
    TryOut.objects.update(status=TryOut.Status.DONE)
    assert worker.tryouts_resend(now=later + timedelta(hours=1)) == 0


def test_tasks_go_to_the_right_queues_and_expiry_is_scheduled(settings):
    router = app.amqp.router
    assert router.route(run_tryout._get_exec_options().copy(), run_tryout.name)["queue"].name == "interactive"
    assert (
        router.route(run_predictions._get_exec_options().copy(), run_predictions.name)["queue"].name
        == "inference"
    )
    assert (
        router.route(expire_tryouts._get_exec_options().copy(), expire_tryouts.name)["queue"].name
        == "default"
    )
    entry = settings.CELERY_BEAT_SCHEDULE["expire-tryouts"]
    assert entry["task"] == expire_tryouts.name and entry["schedule"] <= 600


# --- Through a real worker process ---------------------------------------------
@pytest.fixture
def real_worker(transactional_db, settings, tmp_path):
    # Redis db 12: tests/inference/test_worker.py flushes 13, the browser tests 11.
    with worker_sharing_media(settings=settings, tmp_path=tmp_path, url=redis_url(12)) as proc:
        yield proc


@pytest.mark.services
@pytest.mark.slow
def test_a_try_out_runs_on_a_real_worker_and_expires_through_beats_task(
    real_worker, radiologist, random_model, glioma, settings
):
    created = tryout_start(
        user=radiologist, task=Task.BRAIN_MRI, upload=SimpleUploadedFile(glioma.name, glioma.read_bytes())
    )

    def status() -> str:
        return TryOut.objects.values_list("status", flat=True).get(pk=created.pk)

    wait_for(lambda: status() in ("done", "failed"), what="try-out finished", log_path=real_worker.log_path)
    created.refresh_from_db()
    assert created.status == TryOut.Status.DONE, created.error
    assert created.label in random_model.class_names and default_storage.exists(created.saliency_raw.name)
    # The periodic task, sent as beat sends it, deletes it on the default queue.
    TryOut.objects.filter(pk=created.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    expire_tryouts.apply_async(**settings.CELERY_BEAT_SCHEDULE["expire-tryouts"]["options"])
    wait_for(
        lambda: not TryOut.objects.filter(pk=created.pk).exists(),
        what="expired",
        log_path=real_worker.log_path,
    )
    assert not default_storage.exists(created.file.name)
    assert not default_storage.exists(created.saliency_raw.name)
