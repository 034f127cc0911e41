"""Reviews: labelled examples with provenance, the case lifecycle, permissions and the next case."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from cases.models import AuditEvent, CaseStatus, Review, ReviewDecision
from cases.services.review import review_submit
from inference.models import Prediction
from oncoportal.exceptions import InvalidInput, TransitionNotAllowed

pytestmark = pytest.mark.django_db


def test_confirm_and_correct_freeze_the_ai_result(predicted, reviewer):
    case = predicted[0]
    image = case.images.get()
    prediction = Prediction.objects.get(image=image)
    other = next(c for c in prediction.probabilities if c != prediction.label)
    opened = timezone.now() - timedelta(seconds=42)
    review = review_submit(
        case=case, image=image, reviewer=reviewer, label=other, note=" enhancing rim ", opened_at=opened
    )
    assert review.decision == ReviewDecision.CORRECT and review.label == other
    assert review.ai_label == prediction.label and review.ai_probabilities == prediction.probabilities
    assert review.ai_model_version == str(prediction.model_version) and review.ai_untrained is True
    assert review.prediction_ref == prediction.pk and review.task == "brain_mri"
    assert review.note == "enhancing rim" and review.opened_at == opened
    # The time spent runs from the opening to the submission recorded with it (no wall-clock bound).
    assert 42 <= review.seconds_spent <= (review.submitted_at - opened).total_seconds()
    case.refresh_from_db()
    assert case.status == CaseStatus.REVIEWED
    assert AuditEvent.objects.filter(action="review.submitted", object_id=str(review.pk)).exists()

    second = predicted[1]
    image2 = second.images.get()
    confirm = review_submit(
        case=second, image=image2, reviewer=reviewer, label=Prediction.objects.get(image=image2).label
    )
    assert confirm.decision == ReviewDecision.CONFIRM


def test_bad_labels_and_double_reviews_are_refused(predicted, reviewer, curator):
    case = predicted[0]
    image = case.images.get()
    with pytest.raises(InvalidInput, match="choose one of"):
        review_submit(case=case, image=image, reviewer=reviewer, label="banana")
    with pytest.raises(InvalidInput, match="choose a label"):
        review_submit(case=case, image=image, reviewer=reviewer, label="")
    review_submit(case=case, image=image, reviewer=reviewer, non_diagnostic=True)
    with pytest.raises(TransitionNotAllowed, match="already reviewed"):
        review_submit(case=case, image=image, reviewer=reviewer, label="glioma")
    # Final is final (issue 23): with the one required reading in, a second person may not
    # add a reading either, and the first review is untouched.
    with pytest.raises(TransitionNotAllowed, match="final label stands"):
        review_submit(case=case, image=image, reviewer=curator, label="glioma")
    assert Review.objects.filter(image=image).count() == 1
    assert Review.objects.get(image=image, reviewer=reviewer).decision == ReviewDecision.NON_DIAGNOSTIC


def test_case_without_a_model_can_be_labelled(jpeg_case, reviewer):
    image = jpeg_case.images.get()
    review = review_submit(case=jpeg_case, image=image, reviewer=reviewer, label="pituitary")
    assert review.decision == ReviewDecision.LABEL and review.ai_label == ""
    jpeg_case.refresh_from_db()
    assert jpeg_case.status == CaseStatus.REVIEWED


def test_review_page_flow_saves_and_opens_the_next_case(
    client, predicted, reviewer, radiologist, other_radiologist
):
    first, second = predicted
    image = first.images.get()
    url = reverse("cases:review_submit", args=[first.pk, image.pk])
    client.force_login(radiologist)  # uploads, but does not review
    assert client.post(url, {"label": "glioma"}).status_code == 403
    client.force_login(other_radiologist)  # another site: the case does not exist for them
    assert client.post(url, {"label": "glioma"}).status_code == 404
    client.force_login(reviewer)
    page = client.get(reverse("cases:case_detail", args=[first.pk])).content.decode()
    assert url in page and 'data-digit="1"' in page and "js/review.js" in page
    token = page.split('name="opened" value="')[1].split('"')[0]
    response = client.post(url, {"label": "meningioma", "note": "", "opened": token})
    assert response.status_code == 302
    assert response["Location"] == reverse("cases:case_detail", args=[second.pk])  # the next case opens
    review = Review.objects.get(image=image)
    assert review.label == "meningioma" and review.seconds_spent is not None
    # The last case: back to the worklist.
    image2 = second.images.get()
    response = client.post(
        reverse("cases:review_submit", args=[second.pk, image2.pk]), {"non_diagnostic": "on"}
    )
    assert response["Location"] == reverse("cases:worklist")
    # A tampered timing token loses the timing, not the review.
    assert Review.objects.get(image=image2).seconds_spent is None


def _timeline(client, case) -> str:
    html = client.get(reverse("cases:case_detail", args=[case.pk])).content.decode()
    return html.split('aria-label="Timeline"')[1].split("</p>")[0]


def test_case_page_shows_the_turnaround_timeline(client, predicted, reviewer):
    case = predicted[0]
    image = case.images.get()
    client.force_login(reviewer)
    review_submit(case=case, image=image, reviewer=reviewer, label="glioma")
    timeline = _timeline(client, case)
    # One reading: it is the moment the case became reviewed, shown once.
    assert timeline.index("Received") < timeline.index("Predicted") < timeline.index("Reviewed")
    assert "First review" not in timeline
    assert " s →" in timeline or " min " in timeline


def test_timeline_of_an_adjudicated_case(client, predicted, reviewer, make_user, site, curator):
    from cases.models import ReviewPolicy, Task
    from cases.services.adjudication import adjudication_submit

    ReviewPolicy.objects.create(task=Task.BRAIN_MRI, readers_required=2)
    case = predicted[0]
    image = case.images.get()
    review_submit(case=case, image=image, reviewer=reviewer, label="glioma")
    client.force_login(reviewer)
    assert "First review" in _timeline(client, case) and "Reviewed" not in _timeline(client, case)
    review_submit(case=case, image=image, reviewer=make_user("rev2", "Reviewer", site), label="pituitary")
    adjudication_submit(case=case, image=image, curator=curator, label="pituitary")
    timeline = _timeline(client, case)
    assert timeline.index("First review") < timeline.index("Adjudicated") < timeline.index("Reviewed")
