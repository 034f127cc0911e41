"""Evaluations through a real Celery worker (Redis db 1): the bundled champion against a random candidate.

The worker scores the snapshot's test images with both through the one
scoring path; `evaluate_model --wait` follows one to its end; a run whose
message was lost is sent again by the sweeper and completes.
"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command
from django.utils import timezone

from cases.models import AuditSource
from cases.services.audit import AuditContext
from lifecycle.models import Evaluation, RunStatus
from lifecycle.services.evaluations import evaluation_request, evaluations_sweep
from tests.lifecycle.conftest import REDIS_DB
from tests.retraining.conftest import freeze
from tests.worker import redis_url, wait_for, worker_sharing_media

pytestmark = [pytest.mark.services, pytest.mark.slow]
AUDIT = AuditContext.system(source=AuditSource.CLI)


def finished(pk: int) -> bool:
    return Evaluation.objects.get(pk=pk).status in (RunStatus.DONE, RunStatus.FAILED)


def test_a_worker_scores_both_models_and_the_sweeper_resends_a_lost_run(
    transactional_db, settings, tmp_path, data_dir, site, radiologist, champion, candidate
):
    with worker_sharing_media(settings=settings, tmp_path=tmp_path, url=redis_url(REDIS_DB)) as worker:
        snapshot = freeze(data_dir, site=site, user=radiologist)  # after the start: the worker's media

        out = StringIO()
        call_command(
            "evaluate_model", "--candidate", str(candidate), "--wait", "--timeout", "300", stdout=out
        )
        evaluation = Evaluation.objects.get()
        assert evaluation.status == RunStatus.DONE, (evaluation.error, worker.log_path.read_text()[-3000:])
        assert (evaluation.snapshot, evaluation.champion) == (snapshot, champion)
        results = evaluation.results
        assert results["n"] == 4 and set(results["sides"]) == {"candidate", "champion"}
        assert results["sides"]["champion"]["label"] == str(champion)
        paired = results["paired"]
        assert paired["b"] + paired["c"] <= 4 and 0.0 <= paired["p_value"] <= 1.0
        text = out.getvalue()
        assert f"evaluation {evaluation.pk}: 4 images of brain_mri-v1 (test)" in text
        assert "The difference is" in text and "Accuracy" in text

        # A message lost on the way (the broker dropped it): the sweeper sends it again.
        with mock.patch("lifecycle.services.evaluations.current_app.send_task"):
            lost = evaluation_request(candidate=candidate, audit=AUDIT)
        assert Evaluation.objects.get(pk=lost.pk).status == RunStatus.QUEUED
        later = timezone.now() + timedelta(seconds=settings.PREDICTION_REQUEUE_AFTER + 1)
        assert evaluations_sweep(now=later) == 1
        wait_for(lambda: finished(lost.pk), what="the re-sent evaluation", log_path=worker.log_path)
    lost.refresh_from_db()
    assert lost.status == RunStatus.DONE
    # The same images and models: the same figures.
    assert lost.results["sides"] == results["sides"] and lost.results["paired"] == paired
