"""The Analytics tab in Chromium: a Curator opens it from the Curation page, the four charts are drawn, filters apply.

Here rather than in tests/browser/ for the reason tests/curation/test_images_browser.py gives
(transactional without serialized rollback).
"""

from __future__ import annotations

import pytest

from tests.browser.support import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

G, M, N = "glioma", "meningioma", "notumor"


def test_curator_sees_the_charts_and_filters_by_model_version(
    page, live_server, curator, ai_case, read, reviewer, v1, v2, artifacts
):
    for ai, final in [(G, G), (G, M), (M, M), (N, N), (N, M)]:
        read(ai_case(ai, v1), reviewer, final)
    read(ai_case(G, v2), reviewer, G)

    log_in(page, live_server.url, curator)
    page.get_by_role("link", name="Curation").click()
    page.get_by_role("link", name="Analytics").click()
    page.get_by_role("heading", name="Analytics").wait_for()
    for chart in ("confusion", "sens-spec", "agreement", "turnaround"):
        box = page.locator(f"#chart-{chart} svg").bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 100, chart
    assert page.locator("#summary-images").inner_text() == "6"
    page.screenshot(path=str(artifacts / "analytics.png"), full_page=True)

    page.get_by_label("Model version").select_option(str(v2))
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**model_version=**")
    assert page.locator("#summary-images").inner_text() == "1"
    assert page.locator("#summary-accuracy").inner_text() == "100%"
