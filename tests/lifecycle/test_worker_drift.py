"""Drift watch through a real Celery worker: it builds the reference and scores a drifting stream."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.urls import reverse

from cases.models import Case
from inference.models import Prediction
from inference.services import model_version_activate, model_version_register, prediction_request
from lifecycle.models import DriftReference
from tests.lifecycle.conftest import REDIS_DB
from tests.lifecycle.drift_support import BRAIN_BUNDLE, ingest, lung_ct_paths
from tests.worker import redis_url, wait_for, worker_sharing_media

pytestmark = [pytest.mark.services, pytest.mark.slow]
STREAM = 30  # the fewest a window needs


@pytest.fixture
def worker(transactional_db, settings, tmp_path):
    env = {"ONCOPORTAL_DRIFT_REFERENCE_LIMIT": "40"}  # a smaller reference: a test, not a deployment
    with worker_sharing_media(
        settings=settings, tmp_path=tmp_path, url=redis_url(REDIS_DB), extra_env=env
    ) as proc:
        yield proc


def test_reference_and_stream_through_the_worker_raise_the_banner(
    worker, client, curator, radiologist, site, data_dir
):
    # Lung CT slices filed as brain MRI cases, stored before the brain model is active (nothing queued yet:
    # on SQLite the worker's writes must not meet the intake's).
    case_ids = ingest(lung_ct_paths(data_dir, STREAM), site=site, user=radiologist)
    version, _ = model_version_register(bundle_dir=BRAIN_BUNDLE)
    model_version_activate(version=version)

    client.force_login(curator)
    response = client.post(reverse("lifecycle:drift_reference_build", args=[version.pk]))
    assert response.status_code == 302
    wait_for(
        lambda: DriftReference.objects.filter(model_version=version).exists(),
        what="reference built by the worker",
        log_path=worker.log_path,
    )
    reference = DriftReference.objects.get(model_version=version)
    assert reference.n == 40 and reference.source.startswith("data folder brain_mri")

    with transaction.atomic():  # one commit, then the messages: the worker scores them meanwhile
        for case in Case.objects.filter(pk__in=case_ids):
            prediction_request(case=case)
    done = Prediction.objects.filter(image__case_id__in=case_ids, status=Prediction.Status.DONE)
    wait_for(lambda: done.count() == STREAM, timeout=600, what="stream scored", log_path=worker.log_path)
    assert all(p.input_stats and p.input_stats["channels"] == 1 for p in done)

    page = client.get(reverse("curation:snapshots")).content.decode()
    assert 'class="alert alert-warn drift-banner"' in page and 'data-task="brain_mri"' in page
