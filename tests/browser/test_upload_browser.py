"""End to end in a real headless Chromium: sign in, upload through the page's script, open the case.

Needs Debian's Chromium (/usr/bin/chromium) and the playwright Python package;
``playwright install`` is not used (browser downloads are not available).
Screenshots go to test-artifacts/ at the repository root.
"""

from __future__ import annotations

import re
import shutil
import threading
from pathlib import Path

import pytest

from tests.browser.support import VIEWPORT
from tests.browser.support import log_in as _log_in
from tests.conftest import DATA_DIR, require_service

pytestmark = [
    pytest.mark.browser,
    # live_server needs committed data. serialized_rollback puts back the rows
    # migrations created (the role groups) after the flush, for later tests.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

# Records every state change of the upload panel through an exposed Python
# function, so the progress is known even after the page navigates away.
WATCH_UPLOAD_STATE = """
() => {
  const panel = document.querySelector('#upload-status');
  const report = () => window.reportUploadState(`${panel.dataset.uploadState}:${panel.dataset.percent}`);
  new MutationObserver(report).observe(panel, {attributes: true, attributeFilter: ['data-upload-state', 'data-percent']});
}
"""
IMAGES_LOADED = """
(selector) => {
  const images = Array.from(document.querySelectorAll(selector));
  return images.length > 0 && images.every((img) => img.complete && img.naturalWidth > 0);
}
"""


def _upload_files(tmp_path: Path) -> list[Path]:
    """Two real DICOM files and one brain MRI JPEG, copied so their names are stable."""
    sources = [
        DATA_DIR / "dicom" / "pydicom" / "CT_small.dcm",
        DATA_DIR / "dicom" / "pydicom" / "MR_small.dcm",
        next(iter(sorted((DATA_DIR / "brain_mri" / "train" / "glioma").glob("*.jpg")))),
    ]
    require_service("sample data", all(p.exists() for p in sources), f"no sample data under {DATA_DIR}")
    folder = tmp_path / "upload"
    folder.mkdir()
    return [Path(shutil.copy(source, folder / source.name)) for source in sources]


@pytest.fixture
def held_intake(monkeypatch):
    """Make the server's intake wait until the test releases it, so the 'processing' state can be seen."""
    from cases.views import uploads as upload_views

    release = threading.Event()
    real = upload_views.intake_sources

    def held(**kwargs):
        release.wait(timeout=60)
        return real(**kwargs)

    monkeypatch.setattr(upload_views, "intake_sources", held)
    yield release
    release.set()


def test_upload_and_review_in_chromium(page, live_server, radiologist, tmp_path, artifacts, held_intake):
    from cases.models import IntakeBatch

    files = _upload_files(tmp_path)
    base = live_server.url

    _log_in(page, base, radiologist)
    assert page.get_by_role("heading", name="Worklist").is_visible()
    assert page.get_by_text("No cases yet").is_visible()
    nav = page.get_by_role("navigation", name="Main")

    nav.get_by_role("link", name="Upload").click()
    page.wait_for_url(f"{base}/upload/")
    assert page.locator("#dropzone").is_visible()  # the script is running
    page.locator("#id_files").set_input_files([str(p) for p in files])
    page.get_by_text("3 files chosen").wait_for()
    page.get_by_label("Patient reference (optional)").fill("PAT-0001")

    states: list[str] = []

    def record_state(state: str) -> None:
        states.append(state)

    page.expose_function("reportUploadState", record_state)
    page.evaluate(WATCH_UPLOAD_STATE)
    page.get_by_role("button", name="Upload", exact=True).click()
    # The bytes are sent, the server is decoding: the bar is full and the page says so.
    page.locator('#upload-status[data-upload-state="processing"]').wait_for()
    assert page.locator("#upload-status").get_attribute("data-percent") == "100"
    assert page.get_by_text("Processing 3 files on the server").is_visible()
    assert page.locator("#upload-submit").is_disabled()
    page.screenshot(path=str(artifacts / "upload-processing.png"), full_page=True)
    held_intake.set()
    page.wait_for_url(re.compile(rf"{re.escape(base)}/upload/[0-9a-f-]{{36}}/$"))
    page.get_by_role("heading", name="Upload result").wait_for()

    assert any(s.startswith("processing:100") or s == "uploading:100" for s in states), states
    assert page.locator("tr.accepted-row").count() == 3
    assert page.locator("tr.rejected-row").count() == 0
    assert page.locator("#accepted-count").inner_text() == "3"
    page.wait_for_function(IMAGES_LOADED, arg="tr.accepted-row img")
    page.screenshot(path=str(artifacts / "upload-result.png"), full_page=True)

    batch = IntakeBatch.objects.get()
    # Files are named by their position in the upload, never by the names sent.
    names = {item["name"] for item in batch.report["accepted"]}
    assert names == {f"file-{n:03d}{p.suffix.lower()}" for n, p in enumerate(files, start=1)}

    ct_case_id = next(i["case_id"] for i in batch.report["accepted"] if i["modality"] == "CT")
    page.get_by_role("link", name=f"Case #{ct_case_id}").first.click()
    page.wait_for_url(f"{base}/cases/{ct_case_id}/")
    page.get_by_role("heading", name=re.compile(rf"Case #{ct_case_id}")).wait_for()
    page.wait_for_function(IMAGES_LOADED, arg=".instance img")
    assert page.locator(".instance").count() == 1
    page.screenshot(path=str(artifacts / "case.png"), full_page=True)

    # Keyboard: change the task from the case page and see it confirmed.
    page.get_by_label("Change task").select_option("lung_ct")
    page.get_by_role("button", name="Save task").click()
    page.get_by_text("Task set to Lung CT").wait_for()

    nav.get_by_role("link", name="Worklist").click()
    page.wait_for_url(f"{base}/")
    page.wait_for_function(IMAGES_LOADED, arg="img.thumb-sm")
    assert page.locator("table.worklist tbody tr").count() == 3
    page.screenshot(path=str(artifacts / "worklist.png"), full_page=True)

    page.goto(f"{base}/upload/")
    page.screenshot(path=str(artifacts / "upload.png"), full_page=True)

    # Logging out is a POST from the nav; afterwards the worklist needs a login again.
    page.get_by_role("button", name="Log out").click()
    page.goto(f"{base}/")
    page.wait_for_url(re.compile(rf"{re.escape(base)}/login/\?next=/$"))


# Drops a plain text file and macOS folder metadata onto the drop zone, as a
# drag from the desktop would (a synthetic DataTransfer carries files, not entries).
DROP_FILES = """
() => {
  const transfer = new DataTransfer();
  transfer.items.add(new File(["just some notes"], "notes.txt", {type: "text/plain"}));
  transfer.items.add(new File(["Bud1"], ".DS_Store"));
  const zone = document.querySelector("#dropzone");
  for (const type of ["dragenter", "dragover", "drop"]) {
    zone.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: transfer}));
  }
}
"""


def test_drop_and_folder_picker_keep_relative_paths(page, live_server, radiologist, tmp_path):
    from cases.models import IntakeBatch

    base = live_server.url
    study = tmp_path / "study-1" / "series-2"
    study.mkdir(parents=True)
    for name in ("CT_small.dcm", "MR_small.dcm"):
        shutil.copy(DATA_DIR / "dicom" / "pydicom" / name, study / name)

    _log_in(page, base, radiologist)
    page.goto(f"{base}/upload/")
    page.evaluate(DROP_FILES)
    page.get_by_text("1 file chosen").wait_for()
    assert "1 system file skipped" in page.locator("#file-count").inner_text()
    page.locator("#id_folder").set_input_files(str(tmp_path / "study-1"))
    page.get_by_text("3 files chosen").wait_for()
    assert "study-1/series-2/CT_small.dcm" in page.locator("#file-list").inner_text()

    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_role("heading", name="Upload result").wait_for()
    report = IntakeBatch.objects.get().report
    # Stored and shown by position (file-001.dcm...), never under the folder's own paths.
    accepted = [item["name"] for item in report["accepted"]]
    assert len(accepted) == 2 and all(re.fullmatch(r"file-00[1-3]\.dcm", n) for n in accepted), accepted
    [rejected] = [item["name"] for item in report["rejected"]]
    assert re.fullmatch(r"file-00[1-3]", rejected)  # notes.txt: '.txt' is not kept
    assert page.locator("tr.rejected-row").inner_text().startswith(rejected)
    assert "series-2/" not in page.content() and "notes.txt" not in page.content()

    # Clearing the selection and submitting nothing is caught in the page, not sent.
    page.goto(f"{base}/upload/")
    page.get_by_role("button", name="Upload", exact=True).click()
    assert page.locator("#upload-error").inner_text() == "Choose at least one file, folder or zip to upload."
    assert IntakeBatch.objects.count() == 1


def test_upload_form_works_without_javascript(chromium, live_server, radiologist, tmp_path, artifacts):
    from cases.models import IntakeBatch

    context = chromium.new_context(viewport=VIEWPORT, java_script_enabled=False)
    try:
        page = context.new_page()
        base = live_server.url
        _log_in(page, base, radiologist)
        page.goto(f"{base}/upload/")
        assert not page.locator("#dropzone").is_visible()
        files = _upload_files(tmp_path)
        page.locator("#id_files").set_input_files([str(p) for p in files[:2]])
        page.get_by_label("Task").select_option("lung_ct")
        page.get_by_role("button", name="Upload", exact=True).click()
        page.wait_for_url(re.compile(rf"{re.escape(base)}/upload/[0-9a-f-]{{36}}/$"))
        assert page.locator("tr.accepted-row").count() == 2
        assert IntakeBatch.objects.get().requested_task == "lung_ct"
        page.screenshot(path=str(artifacts / "upload-result-no-js.png"), full_page=True)
    finally:
        context.close()
