"""Browser fixtures: Debian's Chromium driven by Playwright (no browser download)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser.support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, VIEWPORT
from tests.conftest import require_service
from tests.worker import redis_url, worker_sharing_media


@pytest.fixture
def chromium(monkeypatch):
    """A headless Chromium, or a skip (a failure under ONCOPORTAL_REQUIRE_SERVICES=1)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_service("Chromium", False, "the playwright package is not installed (pip install playwright)")
    require_service("Chromium", CHROMIUM.exists(), f"{CHROMIUM} is missing (apt-get install chromium)")
    # Playwright's sync API runs an event loop in this thread; the test's own
    # ORM calls are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
            # The test's ORM calls ran beside Playwright's event loop, in a context
            # whose connection pytest-django does not close; left open, it keeps
            # PostgreSQL from dropping the test database at the end of the run.
            from django.db import connections

            connections.close_all()


def _breaks_a_page(console_text: str) -> bool:
    """A Content-Security-Policy violation of our own: an inline script or style, eval, our own files.

    A third-party load the policy blocks is the policy working: the vendored Redoc asks for
    Google fonts and a logo on a CDN, which a hospital's network (and this one) never reaches.
    """
    if "Content Security Policy" not in console_text:
        return False
    third_party = re.match(r"Loading the \w+ 'https?://(?!127\.0\.0\.1|localhost)", console_text)
    return third_party is None


@pytest.fixture
def page(chromium):
    """A page at 1366x768 with JavaScript on; the test fails if the page broke the Content-Security-Policy."""
    context = chromium.new_context(viewport=VIEWPORT)
    context.set_default_timeout(60_000)
    violations: list[str] = []
    try:
        new_page = context.new_page()
        new_page.on(
            "console",
            lambda message: violations.append(message.text) if _breaks_a_page(message.text) else None,
        )
        yield new_page
    finally:
        context.close()
    assert not violations, f"Content-Security-Policy violations: {violations}"


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def two_predicted_cases(brain_case, random_model):
    """Two brain cases predicted in-process by the untrained test model (no worker needed here)."""
    from unittest import mock

    from inference.pipeline import predictions_run
    from inference.services import prediction_request

    with mock.patch("inference.services.run_predictions.delay"):
        ids = [p.pk for case in brain_case for p in prediction_request(case=case)]
    predictions_run(prediction_ids=ids)
    return list(brain_case.order_by("created_at"))


@pytest.fixture
def celery_worker(settings, tmp_path):
    """A real Celery worker process on Redis (db 11), sharing the live server's database and media folder."""
    with worker_sharing_media(settings=settings, tmp_path=tmp_path, url=redis_url(11)) as proc:
        yield proc
