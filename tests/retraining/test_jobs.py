"""job_start, job_cancel and the sweeper: validation, state changes, audit, the message sent on commit."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from cases.models import AuditEvent, AuditSource
from cases.services.audit import AuditContext
from oncoportal import celery_config
from oncoportal.exceptions import InvalidInput, TransitionNotAllowed
from retraining.models import JobMode, JobStatus, TrainingJob
from retraining.services.jobs import job_cancel, job_start, jobs_sweep

pytestmark = pytest.mark.django_db
AUDIT = AuditContext.system(source=AuditSource.CLI)


@pytest.fixture
def sent(mocker):
    """The messages sent to the broker (by task name), instead of a broker."""
    return mocker.patch("retraining.services.jobs.current_app.send_task")


def start(snapshot, django_capture_on_commit_callbacks, **kwargs) -> TrainingJob:
    options = {"mode": JobMode.FRESH, "recipe": "smoke", **kwargs}
    with django_capture_on_commit_callbacks(execute=True):
        return job_start(snapshot=snapshot, audit=AUDIT, **options)


def test_start_queues_the_job_on_the_training_queue_after_commit(
    snapshot_row, sent, django_capture_on_commit_callbacks
):
    job = start(snapshot_row, django_capture_on_commit_callbacks)
    assert job.status == JobStatus.QUEUED and job.task == "brain_mri" and job.base_version is None
    sent.assert_called_once_with(celery_config.RUN_TRAINING_JOB, args=[job.pk])
    event = AuditEvent.objects.get(action="training_job.started", object_id=str(job.pk))
    assert event.detail["snapshot"] == "brain_mri-v1" and event.detail["recipe"] == "smoke"


def test_finetune_starts_from_the_tasks_active_model(
    snapshot_row, random_model, sent, django_capture_on_commit_callbacks
):
    job = start(snapshot_row, django_capture_on_commit_callbacks, mode=JobMode.FINETUNE)
    assert job.base_version == random_model
    event = AuditEvent.objects.get(action="training_job.started", object_id=str(job.pk))
    assert event.detail["base_version"] == random_model.label and event.detail["head"] == "kept"


def test_unknown_recipe_is_refused_with_the_known_ones(snapshot_row, sent):
    with pytest.raises(InvalidInput, match=r"unknown recipe 'turbo'; one of .*smoke"):
        job_start(snapshot=snapshot_row, mode=JobMode.FRESH, recipe="turbo", audit=AUDIT)
    assert not TrainingJob.objects.exists() and not sent.called


def test_finetune_without_an_active_model_is_refused(snapshot_row, sent):
    with pytest.raises(InvalidInput, match="fine-tuning needs an active model for brain_mri"):
        job_start(snapshot=snapshot_row, mode=JobMode.FINETUNE, recipe="smoke", audit=AUDIT)
    assert not TrainingJob.objects.exists()


def test_a_base_model_of_another_task_or_with_fresh_mode_is_refused(snapshot_row, random_model, sent):
    from inference.models import ModelVersion

    ModelVersion.objects.filter(pk=random_model.pk).update(task="lung_ct")
    random_model.refresh_from_db()
    with pytest.raises(InvalidInput, match="is a lung_ct model; snapshot brain_mri-v1 is brain_mri"):
        job_start(
            snapshot=snapshot_row,
            mode=JobMode.FINETUNE,
            recipe="smoke",
            base_version=random_model,
            audit=AUDIT,
        )
    with pytest.raises(InvalidInput, match="only used when fine-tuning"):
        job_start(
            snapshot=snapshot_row, mode=JobMode.FRESH, recipe="smoke", base_version=random_model, audit=AUDIT
        )
    with pytest.raises(InvalidInput, match="unknown mode"):
        job_start(snapshot=snapshot_row, mode="distil", recipe="smoke", audit=AUDIT)
    assert not TrainingJob.objects.exists()


def test_cancel_a_queued_job_ends_it_at_once(snapshot_row, sent, django_capture_on_commit_callbacks):
    job = start(snapshot_row, django_capture_on_commit_callbacks)
    job = job_cancel(job=job, audit=AUDIT)
    assert job.status == JobStatus.CANCELLED and job.finished_at is not None
    assert job_cancel(job=job, audit=AUDIT).status == JobStatus.CANCELLED  # idempotent
    assert AuditEvent.objects.filter(action="training_job.cancelled", object_id=str(job.pk)).count() == 1


def test_cancel_a_running_job_asks_its_runner(snapshot_row, sent, django_capture_on_commit_callbacks):
    job = start(snapshot_row, django_capture_on_commit_callbacks)
    TrainingJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, heartbeat_at=timezone.now())
    job = job_cancel(job=job, audit=AUDIT)
    assert job.status == JobStatus.CANCELLING and job.finished_at is None


def test_a_finished_job_cannot_be_cancelled(snapshot_row, sent, django_capture_on_commit_callbacks):
    job = start(snapshot_row, django_capture_on_commit_callbacks)
    TrainingJob.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED)
    with pytest.raises(TransitionNotAllowed, match="has already succeeded"):
        job_cancel(job=job, audit=AUDIT)


def test_sweeper_requeues_lost_jobs_and_resends_lost_messages_once_per_period(
    snapshot_row, sent, settings, tmp_path, django_capture_on_commit_callbacks
):
    now = timezone.now()
    stale = now - timedelta(seconds=settings.TRAINING_HEARTBEAT_TIMEOUT + 5)
    jobs = [start(snapshot_row, django_capture_on_commit_callbacks) for _ in range(5)]
    lost, fresh, waiting, recent, cancelling = jobs
    run_dir = tmp_path / "job"
    (run_dir / "bundle.tmp-1").mkdir(parents=True)
    TrainingJob.objects.filter(pk=lost.pk).update(status=JobStatus.RUNNING, heartbeat_at=stale, attempts=1)
    TrainingJob.objects.filter(pk=fresh.pk).update(status=JobStatus.RUNNING, heartbeat_at=now, attempts=1)
    TrainingJob.objects.filter(pk=waiting.pk).update(
        created_at=now - timedelta(seconds=settings.TRAINING_REQUEUE_AFTER + 5)
    )
    TrainingJob.objects.filter(pk=cancelling.pk).update(
        status=JobStatus.CANCELLING, heartbeat_at=stale, run_dir=str(run_dir)
    )
    sent.reset_mock()
    with django_capture_on_commit_callbacks(execute=True):
        assert sorted(jobs_sweep(now=now)) == sorted([lost.pk, waiting.pk])
    assert sorted(c.kwargs["args"][0] for c in sent.call_args_list) == sorted([lost.pk, waiting.pk])
    statuses = dict(TrainingJob.objects.values_list("pk", "status"))
    assert statuses[lost.pk] == JobStatus.QUEUED and statuses[fresh.pk] == JobStatus.RUNNING
    assert statuses[recent.pk] == JobStatus.QUEUED and statuses[cancelling.pk] == JobStatus.CANCELLED
    assert not list(Path(run_dir).glob("bundle*")), "a cancelled job keeps no staged bundle"
    assert AuditEvent.objects.filter(action="training_job.requeued", object_id=str(lost.pk)).exists()
    # The send is stamped: the next sweeps leave them alone until the period has passed again.
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_sweep(now=now + timedelta(seconds=60)) == []
        later = now + timedelta(seconds=settings.TRAINING_REQUEUE_AFTER + 1)
        # An hour on, "fresh" has not beaten either: lost too.
        assert sorted(jobs_sweep(now=later)) == sorted([lost.pk, fresh.pk, waiting.pk, recent.pk])
