"""A study no rule routes asks for a task in Chromium: set from the worklist row, then the case page no longer asks."""

from __future__ import annotations

import pytest

from tests.browser.support import log_in

# Transactional without serialized rollback: the flush empties the routing rules, and the
# `site` fixture seeds them again for the next test that needs them.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_task_is_set_from_the_worklist_and_the_case_page_stops_asking(
    page, live_server, radiologist, data_dir, artifacts
):
    from cases.models import Case
    from cases.services.intake import intake_sources

    path = data_dir / "dicom/pydicom/MR_small.dcm"  # MR with no body part or description
    report = intake_sources(
        uploads=[(path.name, path.read_bytes())], site=radiologist.site, user=radiologist, source="web"
    )
    case = Case.objects.get(pk=report.case_ids[0])
    assert case.task == "unassigned"

    log_in(page, live_server.url, radiologist)
    row = page.locator(f'tr[data-case-id="{case.pk}"]')
    assert row.locator(".badge-task-needed").inner_text() == "Task needed"
    page.screenshot(path=str(artifacts / "worklist-task-needed.png"), full_page=True)
    row.get_by_label(f"Task of case #{case.pk}").select_option("brain_mri")
    row.get_by_role("button", name="Set").click()
    page.get_by_text(f"Case #{case.pk}: task set to Brain MRI (tumour type).").wait_for()
    assert page.url.rstrip("/") == live_server.url  # back on the worklist
    assert page.locator(f'tr[data-case-id="{case.pk}"] .badge-task-needed').count() == 0
    case.refresh_from_db()
    assert case.task == "brain_mri" and not case.task_inferred

    page.goto(f"{live_server.url}/cases/{case.pk}/")
    assert page.locator("#task-needed").count() == 0
    assert "No AI result for this image yet." in page.locator("[data-viewer]").inner_text()
