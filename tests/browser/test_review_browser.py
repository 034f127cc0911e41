"""The keyboard review in a real Chromium: digits pick a class, Enter saves, the next case opens."""

from __future__ import annotations

import pytest

from cases.services.review import review_class_names
from cases.templatetags.cases_tags import class_label
from tests.browser.support import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_keyboard_review_saves_a_correction_and_opens_the_next_case(
    page, live_server, reviewer, two_predicted_cases, artifacts
):
    from cases.models import Review
    from inference.models import Prediction

    first, second = two_predicted_cases
    prediction = Prediction.objects.get(image__case=first)
    classes = review_class_names(prediction=prediction, task=prediction.image.case.task)  # the page's order
    corrected = next(c for c in classes if c != prediction.label)
    digit = str(classes.index(corrected) + 1)

    log_in(page, live_server.url, reviewer)
    # N opens the next case waiting for this reader.
    page.goto(f"{live_server.url}/cases/{first.pk}/")
    page.wait_for_load_state("load")  # review.js is deferred
    page.keyboard.press("n")
    page.wait_for_url(f"{live_server.url}/cases/{second.pk}/")

    page.goto(f"{live_server.url}/cases/{first.pk}/")
    page.wait_for_load_state("load")
    page.keyboard.press(digit)
    assert page.locator(f'input[name="label"][value="{corrected}"]').is_checked()
    page.screenshot(path=str(artifacts / "review.png"), full_page=True)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/cases/{second.pk}/")
    assert page.get_by_text(
        f"Case {first.pk}: saved as {class_label(corrected, first.task)} (corrected the AI label)."
    ).is_visible()

    review = Review.objects.get(image__case=first)
    assert review.label == corrected and review.decision == "correct"
    assert review.ai_label == prediction.label and review.seconds_spent is not None
