"""What the corpus leaves stored goes through a real inference worker once: every prediction ends
DONE (a label, finite probabilities) or FAILED with a readable reason, never stuck; and the
peak memory of the worker and of the web process (this one: the test client runs the views
here) stays under a generous bound. The bound is a correctness limit, not a timing: a bomb
that got through would cost gigabytes."""

from __future__ import annotations

import math

import pytest
from django.urls import reverse

from tests.corpus.hostile import for_entry_point
from tests.corpus.http_inputs import FORM, form_body
from tests.corpus.support import assert_readable
from tests.worker import redis_url, wait_for, worker_sharing_media

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PEAK_RSS_BOUND_MIB = 1536


def peak_rss_mib(pid: int | str = "self") -> float:
    """VmHWM of a process: the most resident memory it ever held."""
    with open(f"/proc/{pid}/status") as fh:
        kib = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    return kib / 1024


def test_stored_inputs_end_done_or_failed_through_a_real_worker(
    settings, tmp_path, client, uploader, random_model
):
    from inference.models import Prediction

    stored = [
        item for item in for_entry_point("web") if item.expect != "reject" and not item.known_bug("web")
    ]
    with worker_sharing_media(settings=settings, tmp_path=tmp_path, url=redis_url(10)) as worker:
        client.force_login(uploader)
        accepted = 0
        for item in stored:
            body = form_body([(item.upload_name, item.data)], {"task": "brain_mri"})
            response = client.post(
                reverse("cases:upload"), body, content_type=FORM, HTTP_ACCEPT="application/json"
            )
            assert response.status_code < 500, (item.name, response.content[:300])
            if response.status_code == 200:
                accepted += response.json()["accepted"]
        assert accepted >= 40, accepted  # the corpus's valid inputs, and the flips that still decode
        unfinished = Prediction.objects.filter(
            status__in=[Prediction.Status.QUEUED, Prediction.Status.RUNNING]
        )
        wait_for(lambda: Prediction.objects.count() >= accepted, what="a prediction per image", timeout=120)
        wait_for(
            lambda: not unfinished.exists(),
            what="every prediction to finish",
            timeout=900,
            log_path=worker.log_path,
        )
        worker_peak = peak_rss_mib(worker.pid)

    predictions = list(Prediction.objects.all())
    assert len(predictions) == accepted
    for prediction in predictions:
        if prediction.status == Prediction.Status.DONE:
            assert prediction.label or prediction.in_scope is False, prediction.pk
            assert all(math.isfinite(p) for p in prediction.probabilities.values()), prediction.probabilities
        else:
            assert prediction.status == Prediction.Status.FAILED, prediction.status
            assert_readable(prediction.error.splitlines()[0] if prediction.error else "")
    assert worker_peak < PEAK_RSS_BOUND_MIB, f"worker peak RSS {worker_peak:.0f} MiB"
    assert peak_rss_mib() < PEAK_RSS_BOUND_MIB, f"web (test) process peak RSS {peak_rss_mib():.0f} MiB"
