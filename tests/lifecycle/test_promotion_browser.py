"""The Models tab in a real Chromium: the overview, the promote page's gate, Promote, then Roll back."""

from __future__ import annotations

import pytest

from tests.browser.support import log_in
from tests.lifecycle.conftest import metrics

pytestmark = [
    pytest.mark.browser,
    pytest.mark.services,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


def test_promote_through_the_gate_and_roll_back_in_the_browser(
    page, live_server, curator, random_model, candidate, make_evaluation, artifacts
):
    from inference.selectors import active_ensemble
    from lifecycle.models import ModelChange

    evaluation = make_evaluation(candidate, champion=metrics(0.80), challenger=metrics(0.82, glioma=0.93))
    base = live_server.url
    log_in(page, base, curator)
    page.goto(f"{base}/curation/models/")
    assert page.locator('nav.curation-tabs a[aria-current="page"]').inner_text() == "Models"
    task = page.locator("#task-brain_mri")
    assert random_model.label in task.locator("table.champion").inner_text()
    row = task.locator(f'table.candidates tr[data-version="{candidate.pk}"]')
    assert "passes" in row.inner_text()
    page.screenshot(path=str(artifacts / "models-overview.png"), full_page=True)

    row.get_by_role("link", name="Promote…").click()
    page.wait_for_url(f"{base}/curation/models/{candidate.pk}/promote/")
    assert page.locator("#gate-verdict").inner_text().startswith("Passed")
    assert page.locator("#gate-checks tbody tr").count() == 4
    assert page.locator("#gate-checks tr.gate-pass").count() == 4
    assert page.locator("#gate-evaluation").inner_text() == str(evaluation.pk)
    assert page.locator("#gate-chart g").count() == 4
    page.screenshot(path=str(artifacts / "models-promote.png"), full_page=True)
    page.get_by_label("Reason").fill("better on glioma")
    page.get_by_role("button", name="Promote").click()
    page.wait_for_url(f"{base}/curation/models/#change-*")
    change = ModelChange.objects.get()
    assert active_ensemble(task="brain_mri") == [candidate]
    history = page.locator(f"#change-{change.pk}")
    assert "better on glioma" in history.inner_text() and "passed all 4 checks" in history.inner_text()
    assert candidate.label in page.locator("#task-brain_mri table.champion").inner_text()

    history.get_by_role("link", name="Roll back").click()
    page.wait_for_url(f"{base}/curation/models/changes/{change.pk}/rollback/")
    assert str(random_model) in page.locator("#rollback-target").inner_text()
    page.screenshot(path=str(artifacts / "models-rollback.png"), full_page=True)
    page.get_by_label("Reason").fill("readers disagree")
    page.get_by_role("button", name="Roll back").click()
    page.wait_for_url(f"{base}/curation/models/#change-*")
    assert active_ensemble(task="brain_mri") == [random_model]
    assert ModelChange.objects.first().kind == ModelChange.Kind.ROLLBACK
    assert "readers disagree" in page.locator("table.changes tbody tr").first.inner_text()
    assert random_model.label in page.locator("#task-brain_mri table.champion").inner_text()
