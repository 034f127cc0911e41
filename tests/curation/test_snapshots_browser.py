"""The Snapshots tab in Chromium: freeze a snapshot from the form, read its counts, download its zip.

Here rather than in tests/browser/ for the reason test_images_browser.py gives
(transactional without serialized rollback).
"""

from __future__ import annotations

import zipfile

import pytest

from tests.browser.support import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_curator_freezes_reads_and_downloads_a_snapshot(
    page, live_server, curator, brain_examples, tmp_path, artifacts
):
    from cases.models import AuditEvent
    from curation.models import Snapshot

    log_in(page, live_server.url, curator)
    page.get_by_role("link", name="Curation").click()
    page.get_by_role("link", name="Snapshots").click()
    page.get_by_role("heading", name="Dataset snapshots").wait_for()
    page.get_by_text("No snapshot yet").wait_for()

    page.get_by_label("Task").select_option("brain_mri")
    page.get_by_label("Split seed").fill("3")
    page.get_by_label("Note").fill("first from the browser")
    page.get_by_role("button", name="Freeze").click()
    page.get_by_role("heading", name="brain_mri-v1").wait_for()
    page.get_by_text("brain_mri-v1 frozen: 16 images.").wait_for()

    snapshot = Snapshot.objects.get()
    assert (snapshot.seed, snapshot.note) == (3, "first from the browser")
    assert page.locator("[data-content-hash]").inner_text() == snapshot.content_hash
    for side, total in (("train", 8), ("val", 4), ("test", 4)):
        assert page.locator(f'tr[data-split="{side}"] td').last.inner_text() == str(total)
    page.screenshot(path=str(artifacts / "curation-snapshot.png"), full_page=True)

    with page.expect_download() as waiting:
        page.get_by_role("link", name="Download zip").click()
    download = waiting.value
    assert download.suggested_filename == "brain_mri-v1.zip"
    download.save_as(tmp_path / "snapshot.zip")
    with zipfile.ZipFile(tmp_path / "snapshot.zip") as zf:
        assert zf.testzip() is None
        assert sum(1 for n in zf.namelist() if n.endswith(".jpg")) == 16

    page.get_by_role("link", name="← Snapshots").click()
    row = page.locator('tr[data-snapshot="brain_mri-v1"]')
    row.wait_for()
    assert snapshot.content_hash[:12] in row.inner_text() and "first from the browser" in row.inner_text()
    page.screenshot(path=str(artifacts / "curation-snapshots.png"), full_page=True)

    page.get_by_label("Task").select_option("brain_mri")
    page.get_by_label("Split seed").fill("3")
    page.get_by_role("button", name="Freeze").click()  # nothing changed: refused, with the reason
    page.get_by_text("Nothing changed since brain_mri-v1").wait_for()
    assert Snapshot.objects.count() == 1
    assert AuditEvent.objects.filter(action="snapshot_export", source="web", actor=curator).count() == 1
