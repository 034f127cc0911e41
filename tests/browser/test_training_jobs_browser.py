"""The Curator page in a real Chromium, with a real training worker and the real trainer.

Freeze a snapshot on the Snapshots tab, start a job from the Training jobs tab
and watch its live progress (polled JSON, the bar, the curve) reach the end:
a candidate version, registered and not active.
"""

from __future__ import annotations

import pytest

from tests.browser.support import log_in
from tests.retraining.conftest import stored_examples, training_worker_process

pytestmark = [
    pytest.mark.browser,
    pytest.mark.services,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


def test_start_a_job_and_watch_it_reach_a_candidate(
    page, live_server, curator, site, radiologist, data_dir, artifacts, settings, tmp_path
):
    from curation.models import Snapshot
    from inference.models import ModelVersion
    from retraining.models import JobStatus, TrainingJob

    with training_worker_process(settings=settings, tmp_path=tmp_path, trainer_args="--epochs 3") as worker:
        stored_examples(data_dir, site=site, user=radiologist)
        base = live_server.url
        log_in(page, base, curator)
        page.goto(f"{base}/curation/snapshots/")
        page.get_by_label("Task", exact=True).select_option("brain_mri")
        page.get_by_label("Validation share").fill("0.25")
        page.get_by_label("Test share").fill("0.25")
        page.get_by_role("button", name="Freeze").click()
        page.wait_for_load_state()
        snapshot = Snapshot.objects.get()
        page.locator("nav.curation-tabs").get_by_role("link", name="Training jobs").click()
        page.wait_for_url(f"{base}/curation/jobs/")
        assert page.locator('nav.curation-tabs a[aria-current="page"]').inner_text() == "Training jobs"
        page.get_by_label("Snapshot", exact=True).select_option(str(snapshot.pk))
        page.get_by_label("Mode", exact=True).select_option("fresh")
        page.locator('input[name="recipe"][value="smoke"]').check()
        page.screenshot(path=str(artifacts / "training-jobs-form.png"), full_page=True)
        page.get_by_role("button", name="Start training").click()
        page.wait_for_url(f"{base}/curation/jobs/*/")
        job = TrainingJob.objects.get()
        assert page.url == f"{base}/curation/jobs/{job.pk}/"

        # The script polls every 2 s: the phase and numbers change without a reload, then the candidate shows.
        page.locator("#job-curve polyline").first.wait_for(state="attached", timeout=300_000)
        page.screenshot(path=str(artifacts / "training-job-running.png"), full_page=True)
        page.locator("#job-result").wait_for(state="visible", timeout=300_000)
        job.refresh_from_db()
        assert job.status == JobStatus.SUCCEEDED, (job.error, worker.log_path.read_text()[-3000:])
        assert page.locator("#job-status").inner_text() == "Succeeded"
        assert page.locator("#job-bar").evaluate("bar => bar.value") == 1
        assert page.locator("#job-epoch").inner_text() == page.locator("#job-epochs").inner_text() == "3"
        assert page.locator("#job-history tbody tr").count() == 3
        assert page.locator("#job-curve polyline").count() == 2  # train loss and validation macro-F1
        assert page.locator("#job-result-version").inner_text() == job.result_version.label
        assert page.locator("#job-cancel-form").is_hidden()
        assert job.result_version.status == ModelVersion.Status.REGISTERED
        page.screenshot(path=str(artifacts / "training-job-done.png"), full_page=True)
