"""The Curator's Label next tab and the readers' page in a real Chromium, on a real 7-image MR study."""

from __future__ import annotations

import pytest

from tests.browser.support import log_in

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_curator_picks_a_strategy_and_opens_the_case(
    page, live_server, curator, reviewer, mr_study_predicted, artifacts
):
    case, images = mr_study_predicted
    base = live_server.url
    log_in(page, base, curator)
    page.goto(f"{base}/curation/next/")
    assert page.locator('nav.curation-tabs a[aria-current="page"]').inner_text() == "Label next"
    page.get_by_label("Strategy", exact=True).select_option("uncertainty")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(f"{base}/curation/next/?*strategy=uncertainty*")
    row = page.locator(f'table.label-next tr[data-case-id="{case.pk}"]')
    assert "uncertain: " in row.locator('[data-field="why"]').inner_text()
    # U = (stored uncertainty + 1 - margin) / 2: instance 6 (0.6, margin 0.45) ranks the case at 0.575, shown 0.58.
    assert row.locator('[data-field="score"]').inner_text().strip().endswith("0.58")
    thumb = row.locator("img.thumb-md")
    assert thumb.get_attribute("src") == f"/images/{images[6].pk}/thumbnail.png"
    thumb.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())
    assert page.locator("figure.score-histogram svg rect[data-bin]").count() == 10
    page.screenshot(path=str(artifacts / "label-next-curator.png"), full_page=True)
    row.get_by_role("link", name=f"#{case.pk}").click()
    page.wait_for_url(f"{base}/cases/{case.pk}/")

    # The reader reaches the same queue from the worklist.
    page.context.clear_cookies()
    log_in(page, base, reviewer)
    page.get_by_role("link", name="Label next").click()
    page.wait_for_url(f"{base}/label-next/")
    assert page.locator(f'tr[data-case-id="{case.pk}"]').count() == 1
    page.screenshot(path=str(artifacts / "label-next-reader.png"), full_page=True)
