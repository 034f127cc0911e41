"""Double delivery, concurrently: two real worker processes on one broker, every message sent twice at once.

The sequential case (one process running the same ids twice) is in test_pipeline.py. Here
two inference workers (the production setup: one process per GPU, prefetch 1) read the
same Redis queue, and each case's prediction ids are published twice back to back, so the
two copies are taken by the two workers at the same time. Whatever the interleaving, each
image must end with exactly one DONE prediction, claimed once, one saliency file and one
``prediction.completed`` audit event, and the deliveries together complete each
prediction exactly once.
"""

from __future__ import annotations

import re
from pathlib import Path
from unittest import mock

import pytest

from cases.models import AuditEvent, Case, CaseStatus, Image, Task
from cases.services.intake import intake_sources
from inference.models import Prediction
from inference.tasks import run_predictions
from oncoportal import celery_config
from tests.conftest import MR_SERIES
from tests.worker import redis_url, wait_for, worker_process, worker_sharing_media

pytestmark = [pytest.mark.services, pytest.mark.slow]

REDIS_DB = 14
SUCCEEDED = re.compile(r"inference\.tasks\.run_predictions\[[^\]]+\] succeeded in [\d.]+s: (\d+)")
RECEIVED = re.compile(r"inference\.tasks\.run_predictions\[[^\]]+\] received")
RAISED = re.compile(r"inference\.tasks\.run_predictions\[[^\]]+\] (raised|retry)[^\n]*")


@pytest.fixture
def two_workers(transactional_db, settings, tmp_path):
    """Two inference workers (queues of the "gpu" kind) on one Redis database, sharing the files."""
    queues = celery_config.WORKERS["gpu"]
    url = redis_url(REDIS_DB)
    with worker_sharing_media(
        settings=settings, tmp_path=tmp_path, url=url, queues=queues, name="gpu-a"
    ) as a:
        second_log = tmp_path / "worker-b.log"
        with worker_process(
            broker_url=url, var_dir=tmp_path / "var", log_path=second_log, queues=queues, name="gpu-b"
        ) as b:
            b.log_path = second_log
            yield a, b


def _logs(workers) -> list[str]:
    return [Path(w.log_path).read_text() for w in workers]


def _ingest(data_dir: Path, *, site, user) -> list[list[int]]:
    """A 7-image MR study and three single-image cases, queued but not sent; each case's prediction ids."""
    glioma = sorted((data_dir / "brain_mri" / "train" / "glioma").glob("*.jpg"))[:3]
    uploads = [p for p in sorted((data_dir / MR_SERIES).iterdir())] + glioma
    with mock.patch.object(run_predictions, "delay") as delay:
        report = intake_sources(
            uploads=[(p.name, p.read_bytes()) for p in uploads],
            site=site,
            user=user,
            source="web",
            task=Task.BRAIN_MRI,
        )
    assert len(report.accepted) == 10 and len(report.case_ids) == 4
    assert delay.call_count == 4  # the intake queued each case once; the test sends them itself
    return [
        sorted(Prediction.objects.filter(image__case_id=case_id).values_list("pk", flat=True))
        for case_id in sorted(report.case_ids)
    ]


def test_each_prediction_sent_twice_at_once_to_two_workers_is_done_once(
    two_workers, random_model, data_dir, site, radiologist, settings
):
    per_case = _ingest(data_dir, site=site, user=radiologist)
    all_ids = [pk for ids in per_case for pk in ids]
    assert len(all_ids) == 10
    assert set(Prediction.objects.values_list("status", flat=True)) == {Prediction.Status.QUEUED}

    messages = [ids for ids in per_case for _ in range(2)]  # each case's ids twice, back to back
    for ids in messages:
        run_predictions.apply_async(args=[ids])

    def ended() -> int:
        return sum(len(SUCCEEDED.findall(log)) + len(RAISED.findall(log)) for log in _logs(two_workers))

    wait_for(
        lambda: ended() >= len(messages),
        what=f"{len(messages)} deliveries run",
        log_path=two_workers[0].log_path,
    )
    logs = _logs(two_workers)
    assert not [m.group(0) for log in logs for m in RAISED.finditer(log)], logs[0][-3000:] + logs[1][-3000:]
    # Both workers took deliveries: the copies really were run by two processes.
    assert all(RECEIVED.search(log) for log in logs), "one worker took every message"
    # The deliveries together completed each prediction once: a copy that lost the claim did nothing.
    assert sum(int(n) for log in logs for n in SUCCEEDED.findall(log)) == len(all_ids)

    predictions = Prediction.objects.filter(pk__in=all_ids)
    assert Prediction.objects.count() == len(all_ids) == Image.objects.count()
    assert sorted(predictions.values_list("image_id", flat=True)) == sorted(
        Image.objects.values_list("pk", flat=True)
    )  # one prediction per image
    for p in predictions:
        assert p.status == Prediction.Status.DONE and p.label, (p.pk, p.status, p.error)
        assert p.attempts == 1, f"prediction {p.pk} was claimed {p.attempts} times"
    # One saliency file per prediction, under its own name; no second copy beside it.
    media = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
    for p in predictions:
        files = sorted(f.name for f in (media / "predictions" / str(p.pk)).iterdir())
        assert files == ["cam.png"], (p.pk, files)
        assert p.saliency_raw.name == f"predictions/{p.pk}/cam.png"
    assert sorted(f.name for f in (media / "predictions").iterdir()) == sorted(str(pk) for pk in all_ids)
    # One prediction.completed event per prediction.
    completed = AuditEvent.objects.filter(action="prediction.completed")
    assert sorted(completed.values_list("object_id", flat=True)) == sorted(str(pk) for pk in all_ids)
    assert set(Case.objects.values_list("status", flat=True)) == {CaseStatus.PREDICTED}
