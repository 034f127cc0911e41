"""Browser fixtures: Debian's Chromium driven by Playwright (no browser download)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, VIEWPORT
from tests.conftest import require_service


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


@pytest.fixture
def page(chromium):
    """A page at 1366x768 with JavaScript on."""
    context = chromium.new_context(viewport=VIEWPORT)
    context.set_default_timeout(60_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
