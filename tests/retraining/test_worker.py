"""Retraining jobs through a real training worker (`-Q training`) running the real trainer (smoke recipe).

A job ends with a registered candidate that is not active; a cancelled one
leaves no model and no bundle; a worker SIGKILLed mid-job is replaced and the
sweeper's re-sent job resumes from the checkpoint.
"""

from __future__ import annotations

import os
import signal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from cases.models import AuditSource
from cases.services.audit import AuditContext
from inference.models import ModelVersion
from oncoportal import celery_config
from retraining.models import JobMode, JobStatus, TrainingJob
from retraining.services.jobs import job_cancel, job_start, jobs_sweep
from tests.retraining.conftest import REDIS_DB, freeze, training_env, training_worker_process
from tests.worker import redis_url, wait_for, worker_process

pytestmark = [pytest.mark.services, pytest.mark.slow]
AUDIT = AuditContext.system(source=AuditSource.CLI)


def job_row(job_id: int) -> TrainingJob:
    return TrainingJob.objects.get(pk=job_id)


def test_retrain_wait_follows_a_finetune_to_a_candidate_that_is_not_active(
    transactional_db, settings, tmp_path, data_dir, site, radiologist, random_bundle
):
    from inference.services import model_version_activate, model_version_register

    with training_worker_process(settings=settings, tmp_path=tmp_path) as worker:
        base, _ = model_version_register(bundle_dir=random_bundle)
        model_version_activate(version=base)
        snapshot = freeze(data_dir, site=site, user=radiologist)
        out = StringIO()
        call_command("retrain", "--snapshot", snapshot.name, "--recipe", "smoke", "--wait", stdout=out)
        job = TrainingJob.objects.get()
    assert job.status == JobStatus.SUCCEEDED, (job.error, worker.log_path.read_text()[-3000:])
    candidate = job.result_version
    assert candidate is not None and f"candidate {candidate.label}" in out.getvalue()
    assert candidate.status == ModelVersion.Status.REGISTERED  # never activated
    assert ModelVersion.objects.get(pk=base.pk).status == ModelVersion.Status.ACTIVE
    assert (candidate.name, candidate.version) == ("brain_mri-retrained", f"s{snapshot.version}-job{job.pk}")
    assert Path(candidate.bundle_path).parent == settings.TRAINING_CANDIDATES_DIR
    assert candidate.class_names == snapshot.class_names
    # Progress as the trainer reported it: every epoch in the history, validation metrics.
    assert job.base_version == base and job.mode == JobMode.FINETUNE
    assert job.epochs >= 1 and job.epoch == job.epochs and job.phase == "done"
    assert [r["epoch"] for r in job.history] == list(range(job.epochs))
    assert "macro_f1" in job.val_metrics and job.train_loss is not None
    assert job.attempts == 1 and job.resumed_from_epoch is None
    run_dir = Path(job.run_dir)
    assert (run_dir / "checkpoint.pt").is_file()
    assert not (run_dir / "data").exists() and not list(run_dir.glob("bundle*"))


def test_cancelling_a_running_job_leaves_no_model_and_no_bundle(
    transactional_db, settings, tmp_path, data_dir, site, radiologist
):
    with training_worker_process(
        settings=settings, tmp_path=tmp_path, trainer_args="--epochs 500 --patience 1000"
    ) as worker:
        snapshot = freeze(data_dir, site=site, user=radiologist)
        job = job_start(snapshot=snapshot, mode=JobMode.FRESH, recipe="smoke", audit=AUDIT)
        wait_for(lambda: job_row(job.pk).epoch >= 1, what="the first epoch", log_path=worker.log_path)
        job_cancel(job=job, audit=AUDIT)
        wait_for(lambda: job_row(job.pk).finished, what="the job to end", log_path=worker.log_path)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.result_version is None
    assert not ModelVersion.objects.exists()
    assert not list(Path(job.run_dir).glob("bundle*"))
    assert not settings.TRAINING_CANDIDATES_DIR.exists() or not any(
        settings.TRAINING_CANDIDATES_DIR.iterdir()
    )
    assert 1 <= job.epoch < 500


def test_a_killed_worker_is_replaced_and_the_job_resumes_from_its_checkpoint(
    transactional_db, settings, tmp_path, data_dir, site, radiologist
):
    settings.TRAINING_HEARTBEAT_TIMEOUT = 3  # the sweeper's view of a lost worker, in this process
    trainer_args = "--epochs 6 --patience 1000"
    with training_worker_process(settings=settings, tmp_path=tmp_path, trainer_args=trainer_args) as first:
        snapshot = freeze(data_dir, site=site, user=radiologist)
        job = job_start(snapshot=snapshot, mode=JobMode.FRESH, recipe="smoke", audit=AUDIT)
        wait_for(
            lambda: (
                job_row(job.pk).epoch >= 1 and (Path(job_row(job.pk).run_dir) / "checkpoint.pt").is_file()
            ),
            what="the first checkpoint",
            log_path=first.log_path,
        )
        # The whole worker, at once: its trainer is in a group of its own and dies with it (PDEATHSIG).
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        assert job_row(job.pk).status == JobStatus.RUNNING
        log = tmp_path / "second-worker.log"
        with worker_process(
            broker_url=redis_url(REDIS_DB),
            var_dir=tmp_path / "var",
            log_path=log,
            queues=celery_config.WORKERS["training"],
            new_session=True,
            extra_env=training_env(trainer_args),
        ):
            wait_for(
                lambda: job.pk in jobs_sweep(), what="the sweeper to see the stale heartbeat", timeout=60
            )
            wait_for(
                lambda: job_row(job.pk).finished, what="the resumed job to end", timeout=600, log_path=log
            )
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.attempts == 2 and job.resumed_from_epoch is not None and job.resumed_from_epoch >= 1
    assert job.result_version is not None and job.result_version.status == ModelVersion.Status.REGISTERED
    assert job.history[-1]["epoch"] == 5 and job.epoch == 6
