"""Shared constants and helpers of the browser tests."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import REPO

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = REPO / "test-artifacts"
VIEWPORT = {"width": 1366, "height": 768}
PASSWORD = "correct-horse-42"  # set by tests.conftest._make_user


def log_in(page, base: str, user) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")
