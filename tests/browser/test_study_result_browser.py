"""The study result in a real Chromium: the case page opens on the key image of a 7-instance MR series."""

from __future__ import annotations

import pytest

from tests.browser.support import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_the_viewer_opens_on_the_key_image_and_the_strip_moves_it(
    page, live_server, radiologist, mr_study_predicted, artifacts
):
    case, _ = mr_study_predicted
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, live_server.url, radiologist)
    page.goto(f"{live_server.url}/cases/{case.pk}/")
    heading = page.locator("#study-result-heading").inner_text()
    # Readable class names and one name per image (issue 23).
    assert "Study result: Glioma 0.91" in heading and "from Image 5 (5 of 7)" in heading
    viewer = page.locator("[data-viewer]")
    page.wait_for_function("() => document.querySelector('[data-viewer]').dataset.position === '5'")
    assert viewer.locator("[data-readout-image]").inner_text() == "Image 5"
    page.screenshot(path=str(artifacts / "study-result.png"))
    # The strip's second image (instance 3, the weaker glioma) opens the viewer there.
    page.locator(".key-images li").nth(1).locator("a").click()
    page.wait_for_function("() => document.querySelector('[data-viewer]').dataset.position === '3'")
    assert viewer.locator("[data-readout-image]").inner_text() == "Image 3"
    assert errors == []
