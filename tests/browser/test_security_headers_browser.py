"""Issue 24 item 7: the Content-Security-Policy breaks no page (the `page` fixture fails on any violation)."""

from __future__ import annotations

import pytest

from tests.browser.support import log_in

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_api_docs_admin_and_curation_pages_run_under_the_policy(
    page, live_server, curator, two_predicted_cases
):
    base = live_server.url
    log_in(page, base, curator)
    page.goto(f"{base}/api/v1/docs/")
    page.wait_for_selector(
        ".swagger-ui .opblock", timeout=60_000
    )  # the start-up script ran and read the schema
    page.goto(f"{base}/api/v1/redoc/")
    page.wait_for_selector("redoc .api-content, .api-content", timeout=60_000)
    page.goto(f"{base}/curation/")
    page.wait_for_load_state("networkidle")
    case = two_predicted_cases[0]
    page.goto(f"{base}/cases/{case.pk}/")
    page.wait_for_load_state("networkidle")
    assert page.locator("canvas, img").count() > 0
