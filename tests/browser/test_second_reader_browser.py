"""Double reading end to end in Chromium: two blinded readers disagree, a Curator adjudicates."""

from __future__ import annotations

import pytest

from cases.services.review import review_class_names
from cases.templatetags.cases_tags import class_label
from tests.browser.support import VIEWPORT, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _read_with_keyboard(page, base: str, case_pk: int, classes: list[str], label: str) -> None:
    page.goto(f"{base}/cases/{case_pk}/")
    page.wait_for_load_state("load")  # review.js is deferred
    page.keyboard.press(str(classes.index(label) + 1))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.get_by_text(f"Case {case_pk}: saved as {class_label(label, 'brain_mri')}").is_visible()


def test_blinded_double_read_and_adjudication(
    chromium, live_server, reviewer, curator, make_user, site, two_predicted_cases, artifacts
):
    from cases.models import Adjudication, CaseStatus, ReviewPolicy, Task
    from inference.models import Prediction

    ReviewPolicy.objects.create(task=Task.BRAIN_MRI, readers_required=2)
    second_reader = make_user("rev2", "Reviewer", site)
    case = two_predicted_cases[0]
    prediction = Prediction.objects.get(image__case=case)
    classes = review_class_names(prediction=prediction, task=prediction.image.case.task)  # the page's order
    first_label, second_label, final_label = classes[0], classes[1], classes[2]
    base = live_server.url

    def session():
        context = chromium.new_context(viewport=VIEWPORT)
        context.set_default_timeout(60_000)
        return context, context.new_page()

    # First reader.
    context, page = session()
    log_in(page, base, reviewer)
    _read_with_keyboard(page, base, case.pk, classes, first_label)
    context.close()
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_REVIEW

    # Second reader: sees that one reading exists, not what it says.
    context, page = session()
    log_in(page, base, second_reader)
    page.goto(f"{base}/cases/{case.pk}/")
    review = page.locator("#review")
    assert "1 reading done" in review.inner_text()
    assert "rev:" not in review.inner_text()
    page.screenshot(path=str(artifacts / "second-reader.png"), full_page=True)
    _read_with_keyboard(page, base, case.pk, classes, second_label)
    context.close()
    case.refresh_from_db()
    assert case.status == CaseStatus.ADJUDICATION

    # The Curator finds it in the adjudication queue and decides with the keyboard.
    context, page = session()
    log_in(page, base, curator)
    page.get_by_role("link", name="Adjudication").click()
    page.wait_for_url(f"{base}/adjudication/")
    row = page.locator(f'a.case-link[href="/cases/{case.pk}/"]')
    assert row.is_visible()
    page.screenshot(path=str(artifacts / "adjudication-queue.png"), full_page=True)
    row.click()
    page.wait_for_url(f"{base}/cases/{case.pk}/")
    page.wait_for_load_state("load")
    form = page.locator("form.adjudication-form")
    said = form.inner_text()  # readable class names (issue 23)
    assert f"rev said {class_label(first_label, case.task)}" in said
    assert f"rev2 said {class_label(second_label, case.task)}" in said
    page.keyboard.press(str(classes.index(final_label) + 1))
    page.get_by_label("Reason").fill("Both readings considered; enhancement pattern decides.")
    page.screenshot(path=str(artifacts / "adjudication-case.png"), full_page=True)
    form.get_by_role("button", name="Record final label").click()
    page.wait_for_url(f"{base}/adjudication/")
    assert page.get_by_text("Nothing to adjudicate").is_visible()
    context.close()

    case.refresh_from_db()
    assert case.status == CaseStatus.REVIEWED
    decision = Adjudication.objects.get(case=case)
    assert decision.label == final_label and decision.curator == curator
    assert {r["label"] for r in decision.readings} == {first_label, second_label}
