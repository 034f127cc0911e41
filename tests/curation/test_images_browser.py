"""The Curator page in Chromium: filter the labelled images, exclude two with a reason, see them excluded.

Here rather than in tests/browser/ (whose fixtures it borrows through
tests/curation/conftest.py): it is transactional without serialized rollback,
and tests/conftest.py refuses such a test before the serialized-rollback
browser tests that sort after it in that folder.
"""

from __future__ import annotations

import pytest

from tests.browser.support import log_in
from tests.curation.management.test_import_base_data import PER_CLASS, run, tiny_folder

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_curator_filters_and_excludes_two_images_with_a_reason(
    page, live_server, curator, data_dir, tmp_path, artifacts
):
    from cases.models import AuditEvent
    from curation.models import Example

    folder = tmp_path / "histo_lung"
    folder.mkdir()
    tiny_folder(data_dir, folder)
    run("--data-dir", str(folder))  # real tiles through the intake: real thumbnails
    benign = list(Example.objects.filter(label="lung_benign").order_by("-labelled_at", "-pk"))
    assert len(benign) == PER_CLASS

    log_in(page, live_server.url, curator)
    page.get_by_role("link", name="Curation").click()
    page.get_by_role("heading", name="Labelled images").wait_for()
    page.get_by_label("Final label").select_option("lung_benign")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**label=lung_benign**")
    rows = page.locator("tr[data-example-id]")
    assert rows.count() == PER_CLASS
    assert page.locator("img.thumb-md").first.evaluate("img => img.complete && img.naturalWidth > 0")

    chosen = benign[:2]
    for example in chosen:
        page.locator(f"#example-{example.pk}").check()
    page.get_by_role("button", name="Exclude ticked").click()  # no reason yet: refused, nothing changed
    page.get_by_text("Say why these images are excluded.").wait_for()
    assert not Example.objects.filter(included=False).exists()
    page.get_by_label("Reason for excluding").fill("stain artefact")
    page.get_by_role("button", name="Exclude ticked").click()
    page.get_by_text("2 images excluded.").wait_for()

    assert "label=lung_benign" in page.url  # back on the same filters
    for example in chosen:
        cell = page.locator(f'tr[data-example-id="{example.pk}"] [data-field="included"]')
        assert "excluded" in cell.inner_text() and "stain artefact" in cell.inner_text()
    kept = page.locator(f'tr[data-example-id="{benign[2].pk}"] [data-field="included"]')
    assert kept.inner_text().strip() == "included"
    page.get_by_label("Included").select_option("no")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**included=no**")
    assert page.locator("tr[data-example-id]").count() == 2
    page.screenshot(path=str(artifacts / "curation-images.png"), full_page=True)

    assert (
        AuditEvent.objects.filter(action="curation.example_excluded", source="web", actor=curator).count()
        == 2
    )
