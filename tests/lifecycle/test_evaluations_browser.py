"""The comparison page in Chromium: a Curator starts an evaluation, the page follows the real worker, then
shows the two models side by side; a reviewer gets the 403 page.

Here rather than in tests/browser/ for the reason tests/curation/test_images_browser.py gives
(transactional without serialized rollback).
"""

from __future__ import annotations

import pytest

from lifecycle.models import Evaluation, RunStatus
from tests.browser.support import log_in
from tests.lifecycle.conftest import REDIS_DB
from tests.retraining.conftest import freeze
from tests.worker import redis_url, worker_sharing_media

pytestmark = [
    pytest.mark.browser,
    pytest.mark.services,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


def test_curator_compares_a_candidate_with_the_champion(
    page,
    live_server,
    settings,
    tmp_path,
    data_dir,
    site,
    radiologist,
    curator,
    champion,
    candidate,
    artifacts,
):
    with worker_sharing_media(settings=settings, tmp_path=tmp_path, url=redis_url(REDIS_DB)):
        freeze(data_dir, site=site, user=radiologist)  # after the start: the worker's media
        log_in(page, live_server.url, curator)
        page.goto(f"{live_server.url}/curation/models/evaluations/")
        page.get_by_role("heading", name="Model evaluations").wait_for()
        page.get_by_text("No evaluation yet").wait_for()
        page.get_by_label("Candidate").select_option(str(candidate.pk))
        page.get_by_role("button", name="Evaluate").click()

        evaluation = Evaluation.objects.get()
        page.get_by_role("heading", name=f"Evaluation {evaluation.pk}").wait_for()
        # The page polls the status JSON and shows the comparison once the worker is done.
        page.locator("#evaluation-verdict").wait_for(timeout=180_000)
    evaluation.refresh_from_db()
    assert evaluation.status == RunStatus.DONE
    assert page.locator("#evaluation-status").inner_text() == "Done"
    assert page.locator("#evaluation-candidate").inner_text() == candidate.label
    assert page.locator("#evaluation-champion").inner_text() == str(champion)
    verdict = page.locator("#evaluation-verdict").inner_text()
    paired = evaluation.results["paired"]
    assert verdict.startswith("The difference is")
    assert f"b={paired['b']}" in verdict and f"c={paired['c']}" in verdict

    table = page.locator("#evaluation-metrics")
    accuracy = table.locator("tbody tr").first.locator("td")
    sides = evaluation.results["sides"]
    assert accuracy.nth(0).inner_text() == f"{sides['champion']['metrics']['accuracy']:.3f}"
    assert accuracy.nth(1).inner_text() == f"{sides['candidate']['metrics']['accuracy']:.3f}"
    for label in ("Macro-F1", "Balanced accuracy", "ECE (expected calibration error)", "glioma: sensitivity"):
        assert table.get_by_role("rowheader", name=label).count() == 1
    for figure in ("confusion", "roc", "reliability"):
        svg = page.locator(f"#figure-{figure} svg")
        assert svg.count() == 1 and svg.bounding_box()["width"] > 100
    assert "random weights" in page.locator("#evaluation-notes").inner_text()
    page.screenshot(path=str(artifacts / "lifecycle-evaluation.png"), full_page=True)

    page.get_by_role("link", name="Model evaluations").click()
    row = page.locator("#evaluation-list tbody tr").first
    assert f"#{evaluation.pk}" in row.inner_text() and "Done" in row.inner_text()


def test_a_reviewer_gets_the_403_page(page, live_server, reviewer):
    log_in(page, live_server.url, reviewer)
    response = page.goto(f"{live_server.url}/curation/models/evaluations/")
    assert response is not None and response.status == 403
    page.get_by_role("heading", name="You cannot open this page").wait_for()
    assert "for Curators" in page.locator("#forbidden").inner_text()
    assert page.get_by_role("heading", name="Model evaluations").count() == 0
