"""The worklist in Chromium: statuses and AI labels update in place while predictions finish."""

from __future__ import annotations

import pytest

from cases.templatetags.cases_tags import class_label
from tests.browser.support import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_worklist_updates_live_without_a_reload(
    page, live_server, radiologist, brain_case, random_model, artifacts
):
    from unittest import mock

    from cases.models import CaseStatus
    from inference.pipeline import predictions_run
    from inference.services import prediction_request

    # Queue the predictions but hold them back, so the page first shows "Queued".
    with mock.patch("inference.services.run_predictions.delay"):
        ids = [p.pk for case in brain_case for p in prediction_request(case=case)]
    assert {c.status for c in brain_case.all()} == {CaseStatus.QUEUED}

    log_in(page, live_server.url, radiologist)
    rows = page.locator("tr[data-case-id]")
    assert rows.count() == 2
    for case in brain_case:
        assert page.locator(f'tr[data-case-id="{case.pk}"] [data-field="status"]').inner_text() == "Queued"
    page.evaluate("window.__notReloaded = true")

    predictions_run(prediction_ids=ids)  # what the worker does

    for case in brain_case:
        cell = page.locator(f'tr[data-case-id="{case.pk}"] [data-field="status"]')
        cell.get_by_text("Predicted").wait_for()
        ai = page.locator(f'tr[data-case-id="{case.pk}"] [data-field="ai"]').inner_text()
        case.refresh_from_db()
        # "AI" and the readable class name (issue 23: the row says whose label it shows).
        assert (
            case.ai_label
            and ai.startswith(f"AI {class_label(case.ai_label, case.task)}")
            and "untrained" in ai
        )
    assert page.evaluate("window.__notReloaded") is True  # updated in place
    assert page.locator("tr[data-in-flight]").count() == 0  # polling has stopped
    page.screenshot(path=str(artifacts / "worklist-live.png"), full_page=True)
