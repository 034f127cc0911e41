"""Issue 23 in Chromium: reading without anchoring, final is final, and a worklist that tells the truth.

One module, without serialized rollback (tests/conftest.py's guard): it sorts after the browser
tests that still use it.
"""

from __future__ import annotations

import pytest

from cases.services.review import review_class_names
from tests.browser.support import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_blind_first_reading_with_the_keyboard(page, live_server, reviewer, two_predicted_cases, artifacts):
    from cases.models import CaseStatus, Review, ReviewPolicy, Task
    from inference.models import Prediction

    ReviewPolicy.objects.create(task=Task.BRAIN_MRI, blind_first_reading=True)
    first, second = two_predicted_cases
    prediction = Prediction.objects.get(image__case=first)
    classes = review_class_names(prediction=prediction, task=first.task)  # the page's order
    blind_label = next(c for c in classes if c != prediction.label)
    base = live_server.url

    log_in(page, base, reviewer)
    page.goto(f"{base}/cases/{first.pk}/")
    page.wait_for_load_state("load")  # review.js is deferred
    review = page.locator("#review")
    # Nothing picked, no AI anywhere on the page.
    assert page.locator('#review input[name="label"]:checked').count() == 0
    assert page.locator("#study-result").count() == 0 and page.locator("#blind-note").is_visible()
    assert "AI says" not in review.inner_text()
    assert page.locator(f"#prediction-{prediction.pk}").count() == 0
    page.screenshot(path=str(artifacts / "blind-reading.png"), full_page=True)
    # Enter with nothing picked saves nothing and says why.
    page.keyboard.press("Enter")
    page.locator("[data-review-hint]").first.wait_for(state="visible")
    assert Review.objects.count() == 0

    page.keyboard.press(str(classes.index(blind_label) + 1))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/cases/{first.pk}/")
    page.wait_for_load_state("load")
    # Revealed: the AI result is shown, the reader's own blind label (not the AI's) is picked.
    assert page.locator("#study-result").is_visible()
    legend = page.locator("form.reveal-form legend").inner_text()
    assert "Your blind reading was" in legend and "the AI says" in legend
    assert page.locator(f'#review input[name="label"][value="{blind_label}"]').is_checked()
    page.screenshot(path=str(artifacts / "blind-reading-revealed.png"), full_page=True)
    with page.expect_navigation():
        page.keyboard.press("Enter")  # keep the label
    page.wait_for_url(f"{base}/cases/{second.pk}/")

    readings = list(Review.objects.filter(image__case=first).order_by("pk"))
    assert [(r.ai_visible, r.label) for r in readings] == [(False, blind_label), (True, blind_label)]
    assert readings[1].decision == "correct" and readings[1].ai_label == prediction.label
    first.refresh_from_db()
    assert first.status == CaseStatus.REVIEWED and first.final_label == blind_label


def test_final_is_final_on_the_page(page, live_server, reviewer, make_user, site, two_predicted_cases):
    from cases.models import Review
    from cases.services.review import review_submit
    from cases.templatetags.cases_tags import class_label

    case = two_predicted_cases[0]
    image = case.images.get()
    review_submit(case=case, image=image, reviewer=reviewer, label="meningioma")
    base = live_server.url
    log_in(page, base, make_user("rev2", "Reviewer", site))
    page.goto(f"{base}/cases/{case.pk}/")
    page.wait_for_load_state("load")
    final = page.locator("[data-final]")
    assert f"Final label: {class_label('meningioma', case.task)}" in final.inner_text()
    assert "decided by rev" in final.inner_text()
    assert page.locator("form[data-review-form]").count() == 0
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    assert page.url == f"{base}/cases/{case.pk}/"
    assert Review.objects.filter(image=image).count() == 1


def test_the_open_worklist_gains_a_new_case_and_shows_final_labels(
    page, live_server, reviewer, radiologist, site, make_case, two_predicted_cases, artifacts
):
    from cases.services.review import review_submit

    reviewed = two_predicted_cases[0]
    review_submit(case=reviewed, image=reviewed.images.get(), reviewer=reviewer, label="notumor")
    base = live_server.url
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, base, radiologist)
    assert page.locator("tr[data-case-id]").count() == 2
    cell = page.locator(f'tr[data-case-id="{reviewed.pk}"] [data-field="ai"]').inner_text()
    assert cell.startswith("No tumour")
    page.evaluate("window.__notReloaded = true")

    new = make_case(site, task="brain_mri", modality="MR", flagged=True, priority=2)
    row = page.locator(f'tr[data-case-id="{new.pk}"].is-new')
    row.wait_for()
    assert page.evaluate("window.__notReloaded") is True
    assert page.locator("tr[data-case-id]").first.get_attribute("data-case-id") == str(new.pk)
    # The worklist fits a 1280 px window: no sideways scrolling of the page or the table.
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.querySelector('.table-wrap').scrollWidth,"
        " document.querySelector('.table-wrap').clientWidth]"
    )
    assert widths[0] <= 1280 and widths[1] <= widths[2], widths
    page.screenshot(path=str(artifacts / "worklist-new-case.png"), full_page=True)
