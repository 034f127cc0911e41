"""The whole review loop in Chromium with a real worker: upload, live prediction, viewer, keyboard correction.

Log in → upload two real brain MRI images → the worklist turns them
"Predicted" in place as the worker finishes → open the first case → overlay on,
opacity up → correct the label with the keyboard → the next case opens.
Screenshots of the worklist and the case page go to test-artifacts/.
"""

from __future__ import annotations

import pytest

from cases.services.review import review_class_names
from cases.templatetags.cases_tags import class_label
from tests.browser.support import log_in
from tests.conftest import DATA_DIR, require_service

pytestmark = [
    pytest.mark.browser,
    pytest.mark.services,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_upload_predict_view_and_correct(
    page, live_server, make_user, site, random_model, celery_worker, artifacts
):
    from django.contrib.auth.models import Group

    from cases.models import Case, Review

    images = sorted((DATA_DIR / "brain_mri" / "train" / "meningioma").glob("*.jpg"))[:2]
    require_service("sample data", len(images) == 2, str(DATA_DIR / "brain_mri"))
    # A radiologist who also reads: uploads, then reviews.
    reader = make_user("reader", "Radiologist", site)
    reader.groups.add(Group.objects.get(name="Reviewer"))
    base = live_server.url

    log_in(page, base, reader)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Upload").click()
    page.get_by_label("Task").select_option("brain_mri")
    page.locator("#id_files").set_input_files([str(p) for p in images])
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_role("heading", name="Upload result").wait_for()
    assert page.locator("tr.accepted-row").count() == 2

    # The worklist shows both cases and updates their status as the worker predicts them.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Worklist").click()
    page.evaluate("window.__notReloaded = true")
    for case in Case.objects.all():
        status = page.locator(f'tr[data-case-id="{case.pk}"] [data-field="status"]')
        status.get_by_text("Predicted").wait_for(timeout=120_000)
    assert page.evaluate("window.__notReloaded") is True
    page.screenshot(path=str(artifacts / "flow-worklist.png"), full_page=True)

    # Open the first case in worklist order; the other one is "next".
    first_pk = int(page.locator("tr[data-case-id]").first.get_attribute("data-case-id"))
    second_pk = next(pk for pk in Case.objects.values_list("pk", flat=True) if pk != first_pk)
    page.locator(f'a.case-link[href="/cases/{first_pk}/"]').click()
    page.wait_for_url(f"{base}/cases/{first_pk}/")
    viewer = page.locator("[data-viewer]")
    viewer.locator("[data-readout-window]").filter(has_text="W ").wait_for()
    viewer.get_by_role("checkbox", name="Saliency overlay").check()
    viewer.get_by_label("Opacity").fill("75")
    assert viewer.locator("[data-opacity-value]").text_content() == "75%"
    page.screenshot(path=str(artifacts / "flow-case.png"), full_page=True)

    case = Case.objects.get(pk=first_pk)
    prediction = case.images.get().predictions.get()
    classes = review_class_names(prediction=prediction, task=prediction.image.case.task)  # the page's order
    corrected = next(name for name in classes if name != prediction.label)
    page.locator("body").focus()
    page.keyboard.press(str(classes.index(corrected) + 1))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/cases/{second_pk}/")
    assert page.get_by_text(
        f"Case {first_pk}: saved as {class_label(corrected, case.task)} (corrected the AI label)."
    ).is_visible()

    review = Review.objects.get(case_id=first_pk)
    assert review.label == corrected and review.decision == "correct" and review.reviewer == reader
    assert review.ai_label == prediction.label and review.prediction_ref == prediction.pk
