"""What the corpus leaves stored goes through a real inference worker once: every prediction ends
DONE (a label, finite probabilities) or FAILED with a readable reason, never stuck; and the
peak memory of the worker, and what the web process (this one: the test client runs the views
here) adds to its resident memory while the corpus goes in, stay under generous bounds. The
bounds are correctness limits, not timings: a bomb that got through would cost gigabytes."""

from __future__ import annotations

import math

import pytest
from django.urls import reverse

from tests.corpus.hostile import for_entry_point
from tests.corpus.http_inputs import FORM, form_body
from tests.corpus.support import assert_readable
from tests.worker import redis_url, wait_for, worker_sharing_media

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PEAK_RSS_BOUND_MIB = 1536  # the worker, a process of its own (about 1.1 GiB once torch is loaded)
# The test process has run the rest of the suite before: its own peak says nothing about this
# test, so the peak is reset here (Linux: "5" in /proc/self/clear_refs) and its growth bounded.
PEAK_GROWTH_BOUND_MIB = 768


def _status_mib(field: str, pid: int | str = "self") -> float:
    with open(f"/proc/{pid}/status") as fh:
        kib = next(int(line.split()[1]) for line in fh if line.startswith(f"{field}:"))
    return kib / 1024


def peak_rss_mib(pid: int | str = "self") -> float:
    """VmHWM of a process: the most resident memory it held (since start, or the last reset)."""
    return _status_mib("VmHWM", pid)


def reset_peak_rss() -> float:
    """Reset this process's VmHWM to its current RSS; returns that RSS (MiB)."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    return _status_mib("VmRSS")


def test_stored_inputs_end_done_or_failed_through_a_real_worker(
    settings, tmp_path, client, uploader, random_model
):
    from inference.models import Prediction

    stored = [
        item for item in for_entry_point("web") if item.expect != "reject" and not item.known_bug("web")
    ]
    with worker_sharing_media(settings=settings, tmp_path=tmp_path, url=redis_url(10)) as worker:
        client.force_login(uploader)
        start_rss = reset_peak_rss()
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
    growth = peak_rss_mib() - start_rss
    assert growth < PEAK_GROWTH_BOUND_MIB, f"web (test) process peak RSS grew by {growth:.0f} MiB"
