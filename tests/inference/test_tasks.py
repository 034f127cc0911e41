"""Round trips through a real Celery worker process on Redis."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from cases.models import Case, CaseStatus, Task
from cases.services.intake import intake_sources
from inference.models import Prediction
from inference.sweep import predictions_sweep
from tests.worker import (
    redis_url,
    wait_for,
    worker_sharing_media,
)

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture
def worker(transactional_db, settings, tmp_path):
    with worker_sharing_media(settings=settings, tmp_path=tmp_path, url=redis_url()) as proc:
        yield proc


def _upload_brain_image(path, *, site, user) -> int:
    """One image through the intake (as the upload page sends it); returns its case id."""
    report = intake_sources(
        uploads=[(path.name, path.read_bytes())], site=site, user=user, source="web", task=Task.BRAIN_MRI
    )
    return report.case_ids[0]


def _case_status(case_id: int) -> str:
    return Case.objects.values_list("status", flat=True).get(pk=case_id)


def test_upload_to_prediction_through_a_real_worker(worker, data_dir, site, radiologist, random_model):
    path = sorted((data_dir / "brain_mri" / "train" / "glioma").glob("*.jpg"))[0]
    case_id = _upload_brain_image(path, site=site, user=radiologist)
    wait_for(
        lambda: _case_status(case_id) == CaseStatus.PREDICTED, what="case predicted", log_path=worker.log_path
    )
    prediction = Prediction.objects.get(image__case_id=case_id)
    assert prediction.status == Prediction.Status.DONE
    assert prediction.label in random_model.class_names
    assert default_storage.exists(prediction.saliency_raw.name)
    assert default_storage.exists(prediction.saliency_overlay.name)


def test_killed_worker_recovery_through_the_sweeper(
    worker, data_dir, site, radiologist, random_model, settings
):
    path = sorted((data_dir / "brain_mri" / "train" / "pituitary").glob("*.jpg"))[0]
    case_id = _upload_brain_image(path, site=site, user=radiologist)
    wait_for(
        lambda: _case_status(case_id) == CaseStatus.PREDICTED,
        what="first prediction",
        log_path=worker.log_path,
    )
    # Simulate a worker killed mid-task: the row is left RUNNING, its last heartbeat long ago,
    # its message gone (the live worker's pid stays on it, so only the heartbeat tells).
    long_ago = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 300)
    Prediction.objects.filter(image__case_id=case_id).update(
        status=Prediction.Status.RUNNING, started_at=long_ago, heartbeat_at=long_ago, label=""
    )
    Case.objects.filter(pk=case_id).update(status=CaseStatus.PREDICTING)
    assert predictions_sweep() == 1
    wait_for(
        lambda: _case_status(case_id) == CaseStatus.PREDICTED,
        what="re-queued prediction",
        log_path=worker.log_path,
    )
    prediction = Prediction.objects.get(image__case_id=case_id)
    assert prediction.status == Prediction.Status.DONE and prediction.label
    assert prediction.attempts == 2
