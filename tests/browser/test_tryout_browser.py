"""The try-out page in a real Chromium, with a real Celery worker: upload, watch the result arrive, save as case.

Needs Debian's Chromium, the playwright package and Redis (the worker's
broker). Screenshots go to test-artifacts/ at the repository root.
"""

from __future__ import annotations

import pytest

from tests.browser.support import log_in
from tests.conftest import DATA_DIR, require_service

pytestmark = [
    pytest.mark.browser,
    pytest.mark.services,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

IMAGES_LOADED = """
(selector) => {
  const images = Array.from(document.querySelectorAll(selector));
  return images.length > 0 && images.every((img) => !img.hidden && img.complete && img.naturalWidth > 0);
}
"""


def test_try_out_an_image_then_save_it_as_a_case(
    page, live_server, radiologist, random_model, celery_worker, artifacts, settings
):
    from cases.models import Case, Task
    from inference.models import TryOut

    image = sorted((DATA_DIR / "brain_mri" / "train" / "glioma").glob("*.jpg"))[0]
    require_service("sample data", image.exists(), str(image))
    base = live_server.url
    log_in(page, base, radiologist)

    page.get_by_role("link", name="Try out").click()
    page.wait_for_url(f"{base}/tryout/")
    page.get_by_label("Task").select_option(Task.BRAIN_MRI)
    page.get_by_label("Image").set_input_files(str(image))
    page.screenshot(path=str(artifacts / "tryout-form.png"), full_page=True)
    page.get_by_role("button", name="Run the model").click()
    page.wait_for_url(f"{base}/tryout/*/")
    tryout = TryOut.objects.get()
    assert page.url == f"{base}/tryout/{tryout.pk}/"

    # The script polls until the worker's result is in, then shows it without a reload.
    page.locator("#tryout-done").wait_for(state="visible", timeout=120_000)
    page.wait_for_function(IMAGES_LOADED, arg="#tryout img", timeout=30_000)
    tryout.refresh_from_db()
    assert tryout.status == TryOut.Status.DONE
    assert page.locator("#tryout-label").inner_text() == tryout.label
    assert page.locator("#tryout-probs li").count() == len(random_model.class_names)
    assert page.locator("#tryout-models").inner_text() == str(random_model)
    assert page.get_by_text("Untrained model.").is_visible()
    assert page.locator("#tryout-overlay-placeholder").is_hidden()
    page.screenshot(path=str(artifacts / "tryout.png"), full_page=True)

    page.get_by_role("button", name="Save as case").click()
    page.wait_for_url(f"{base}/cases/*/")
    case = Case.objects.get()
    assert page.url == f"{base}/cases/{case.pk}/"
    assert case.task == Task.BRAIN_MRI and case.site == radiologist.site
    assert page.get_by_text(f"Saved as case {case.pk}").is_visible()
    assert not TryOut.objects.exists()
    page.screenshot(path=str(artifacts / "tryout-saved-case.png"), full_page=True)
