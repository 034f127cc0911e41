"""manage.py retrain and cancel_training (queueing; following a job to its end is in test_worker.py)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from retraining.models import JobStatus, TrainingJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(mocker):
    return mocker.patch("retraining.services.jobs.current_app.send_task")


def test_retrain_queues_a_job_by_snapshot_name_or_id(snapshot_row, random_model, sent):
    out = StringIO()
    call_command("retrain", "--snapshot", "brain_mri-v1", "--recipe", "smoke", stdout=out)
    job = TrainingJob.objects.get()
    assert f"training job {job.pk} queued: brain_mri-v1, finetune, recipe smoke" in out.getvalue()
    assert job.base_version == random_model
    call_command(
        "retrain", "--snapshot", str(snapshot_row.pk), "--mode", "fresh", "--recipe", "smoke", stdout=out
    )
    assert TrainingJob.objects.filter(mode="fresh").count() == 1


def test_retrain_refuses_in_one_line(snapshot_row, sent):
    with pytest.raises(CommandError, match=r"no snapshot 'brain_mri-v9' \(newest: brain_mri-v1\)"):
        call_command("retrain", "--snapshot", "brain_mri-v9")
    with pytest.raises(CommandError, match="unknown recipe 'turbo'"):
        call_command("retrain", "--snapshot", "brain_mri-v1", "--mode", "fresh", "--recipe", "turbo")
    with pytest.raises(CommandError, match="fine-tuning needs an active model"):
        call_command("retrain", "--snapshot", "brain_mri-v1", "--recipe", "smoke")
    with pytest.raises(CommandError, match="no model version with id 999"):
        call_command("retrain", "--snapshot", "brain_mri-v1", "--base", "999")
    assert not TrainingJob.objects.exists()


def test_cancel_training(snapshot_row, sent):
    job = TrainingJob.objects.create(snapshot=snapshot_row, task="brain_mri", mode="fresh", recipe="smoke")
    out = StringIO()
    call_command("cancel_training", str(job.pk), stdout=out)
    assert out.getvalue().strip() == f"training job {job.pk}: cancelled"
    assert TrainingJob.objects.get(pk=job.pk).status == JobStatus.CANCELLED
    with pytest.raises(CommandError, match="no training job 999"):
        call_command("cancel_training", "999")
    TrainingJob.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED)
    with pytest.raises(CommandError, match="has already succeeded"):
        call_command("cancel_training", str(job.pk))
