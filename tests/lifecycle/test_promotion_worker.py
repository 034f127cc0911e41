"""End to end with a real Celery worker: promote through the gate, new uploads use the new version; roll back, they use the old.

The worker keeps its loaded models between tasks; it must still score each new
case with the ensemble active at upload time, with no restart.
"""

from __future__ import annotations

import pytest

from cases.models import Case, CaseStatus, Task
from cases.services.audit import AuditContext
from cases.services.intake import intake_sources
from inference.models import Prediction
from inference.services import model_version_register
from lifecycle.services.promotion import model_promote, model_rollback
from tests.conftest import REPO
from tests.lifecycle.conftest import REDIS_DB, metrics
from tests.worker import redis_url, wait_for, worker_sharing_media

pytestmark = [pytest.mark.services, pytest.mark.slow]

REAL_BUNDLE = REPO / "inference" / "bundles" / "brain_mri-lite0"


@pytest.fixture
def worker(transactional_db, settings, tmp_path):
    with worker_sharing_media(settings=settings, tmp_path=tmp_path, url=redis_url(REDIS_DB)) as proc:
        yield proc


def _upload_and_wait(path, *, site, user, worker) -> Prediction:
    report = intake_sources(
        uploads=[(path.name, path.read_bytes())], site=site, user=user, source="web", task=Task.BRAIN_MRI
    )
    (case_id,) = report.case_ids
    wait_for(
        lambda: Case.objects.values_list("status", flat=True).get(pk=case_id) == CaseStatus.PREDICTED,
        what=f"case {case_id} predicted",
        log_path=worker.log_path,
    )
    return Prediction.objects.select_related("model_version").get(image__case_id=case_id)


def test_promote_then_roll_back_switches_what_new_uploads_get(
    worker, data_dir, site, radiologist, curator, random_model, make_evaluation
):
    real, _ = model_version_register(bundle_dir=REAL_BUNDLE)
    audit = AuditContext.system(source="cli", actor=curator)
    paths = sorted((data_dir / "brain_mri" / "train" / "glioma").glob("*.jpg"))[:3]

    before = _upload_and_wait(paths[0], site=site, user=radiologist, worker=worker)
    assert before.model_version == random_model  # the worker has now loaded the old champion

    make_evaluation(real, champion=metrics(0.30), challenger=metrics(0.90, glioma=0.95))
    promoted = model_promote(candidate=real, audit=audit, reason="trained model")
    after = _upload_and_wait(paths[1], site=site, user=radiologist, worker=worker)
    assert after.model_version == real
    assert after.status == Prediction.Status.DONE and after.label in real.class_names
    assert [m["version_id"] for m in after.members] == [real.pk]

    model_rollback(change=promoted, audit=audit, reason="undo")
    back = _upload_and_wait(paths[2], site=site, user=radiologist, worker=worker)
    assert back.model_version == random_model
    assert [m["version_id"] for m in back.members] == [random_model.pk]
