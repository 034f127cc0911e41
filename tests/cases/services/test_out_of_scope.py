"""An image outside the model's scope (issue 23 item 1): no finding in the case summary, a plain reading."""

from __future__ import annotations

import pytest

from cases.models import ReviewDecision
from cases.services.review import review_submit
from inference.case_status import case_refresh_ai_summary
from inference.models import Prediction

pytestmark = pytest.mark.django_db


def _outside(case):
    """Mark the case's prediction as the suitability check would leave it: no class, probabilities kept."""
    Prediction.objects.filter(image__case=case).update(
        label="", confidence=None, in_scope=False, scope_ratio=2.5
    )
    case_refresh_ai_summary(case_id=case.pk)
    case.refresh_from_db()
    return case


def test_the_case_summary_has_no_finding_and_says_outside_the_scope(predicted):
    case = predicted[0]
    before = case.ai_label
    assert before and case.ai_images == 1 and not case.ai_outside_scope
    case = _outside(case)
    assert case.ai_label == "" and not case.ai_positive and case.ai_confidence is None
    assert case.ai_images == 1 and case.ai_out_of_scope == 1 and case.ai_outside_scope
    assert case.study_result is not None and case.study_result["out_of_scope"] == 1


def test_a_reading_of_an_out_of_scope_image_is_a_plain_label(predicted, reviewer):
    case = _outside(predicted[0])
    image = case.images.get()
    review = review_submit(case=case, image=image, reviewer=reviewer, label="glioma")
    assert review.decision == ReviewDecision.LABEL and review.ai_label == ""
