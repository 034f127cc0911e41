"""Issue 23: reading without anchoring (blind first reading, ai_visible) and final is final (refusals)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cases.models import Case, CaseStatus, Review, ReviewDecision, ReviewPolicy, Task
from cases.selectors import worklist_for_user
from cases.services.adjudication import adjudication_submit
from cases.services.review import review_submit, study_final_label
from inference.models import Prediction
from oncoportal.exceptions import TransitionNotAllowed

pytestmark = pytest.mark.django_db


def _other(prediction: Prediction) -> str:
    return next(c for c in prediction.probabilities if c != prediction.label)


def test_a_reading_with_the_ai_shown_records_it(predicted, reviewer):
    case = predicted[0]
    image = case.images.get()
    review = review_submit(case=case, image=image, reviewer=reviewer, label="glioma")
    assert review.ai_visible is True and review.prediction_ref is not None
    case.refresh_from_db()
    assert case.status == CaseStatus.REVIEWED and case.final_label == "glioma"
    assert case.final is not None
    assert case.final["ai_agreed"] == (Prediction.objects.get(image=image).label == "glioma")


def test_blind_first_reading_then_the_reading_after_the_reveal(predicted, reviewer):
    ReviewPolicy.objects.create(task=Task.BRAIN_MRI, readers_required=1, blind_first_reading=True)
    case = predicted[0]
    image = case.images.get()
    prediction = Prediction.objects.get(image=image)
    changed = _other(prediction)

    blind = review_submit(case=case, image=image, reviewer=reviewer, label=prediction.label)
    assert blind.ai_visible is False and blind.awaits_reveal
    assert blind.decision == ReviewDecision.LABEL  # made without the AI: not a "confirmation"
    assert blind.ai_label == prediction.label  # what the AI said is still frozen in
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_REVIEW  # the blind reading alone does not finish the case

    after = review_submit(case=case, image=image, reviewer=reviewer, label=changed)
    assert after.ai_visible is True and after.decision == ReviewDecision.CORRECT
    assert Review.objects.filter(image=image, reviewer=reviewer).count() == 2  # both stored
    case.refresh_from_db()
    assert case.status == CaseStatus.REVIEWED and case.final_label == changed
    with pytest.raises(TransitionNotAllowed, match="already reviewed"):
        review_submit(case=case, image=image, reviewer=reviewer, label=changed)


def test_blind_setting_without_an_ai_result_is_one_reading(jpeg_case, reviewer):
    ReviewPolicy.objects.create(task=Task.BRAIN_MRI, blind_first_reading=True)
    review = review_submit(case=jpeg_case, image=jpeg_case.images.get(), reviewer=reviewer, label="pituitary")
    assert review.ai_visible is False and not review.awaits_reveal
    jpeg_case.refresh_from_db()
    assert jpeg_case.status == CaseStatus.REVIEWED


def test_no_reading_after_adjudication(predicted, reviewer, curator, make_user, site):
    ReviewPolicy.objects.create(task=Task.BRAIN_MRI, readers_required=2)
    second, third = make_user("rev2", "Reviewer", site), make_user("rev3", "Reviewer", site)
    case = predicted[0]
    image = case.images.get()
    review_submit(case=case, image=image, reviewer=reviewer, label="glioma")
    review_submit(case=case, image=image, reviewer=second, label="meningioma")
    with pytest.raises(TransitionNotAllowed, match="waits for a Curator"):
        review_submit(case=case, image=image, reviewer=third, label="glioma")
    adjudication_submit(case=case, image=image, curator=curator, label="pituitary")
    case.refresh_from_db()
    assert case.status == CaseStatus.REVIEWED and case.final_label == "pituitary"
    with pytest.raises(TransitionNotAllowed, match="final label stands"):
        review_submit(case=case, image=image, reviewer=third, label="glioma")
    assert Review.objects.filter(image=image).count() == 2


def test_the_page_shows_the_final_label_instead_of_the_form(client, predicted, reviewer, make_user, site):
    case = predicted[0]
    image = case.images.get()
    review_submit(case=case, image=image, reviewer=reviewer, label="notumor")
    client.force_login(make_user("rev2", "Reviewer", site))
    html = client.get(reverse("cases:case_detail", args=[case.pk])).content.decode()
    assert "Final label:</strong> No tumour" in html and "decided by rev" in html
    assert reverse("cases:review_submit", args=[case.pk, image.pk]) not in html
    # A post anyway is refused with the reason, and nothing is saved.
    response = client.post(
        reverse("cases:review_submit", args=[case.pk, image.pk]), {"label": "glioma"}, follow=True
    )
    assert "final label stands" in response.content.decode()
    assert Review.objects.filter(image=image).count() == 1


def test_nothing_is_pre_selected_and_blind_pages_hide_the_ai(client, predicted, reviewer):
    case = predicted[0]
    client.force_login(reviewer)
    url = reverse("cases:case_detail", args=[case.pk])
    html = client.get(url).content.decode()
    assert 'name="label"' in html and " checked" not in html.split('id="review"')[1]
    assert 'id="study-result"' in html
    ReviewPolicy.objects.create(task=Task.BRAIN_MRI, blind_first_reading=True)
    html = client.get(url).content.decode()
    assert 'id="study-result"' not in html and "AI says" not in html and 'id="blind-note"' in html
    prediction = Prediction.objects.get(image__case=case)
    assert reverse("inference:prediction_file", args=[prediction.pk, "saliency"]) not in html
    review_submit(case=case, image=case.images.get(), reviewer=reviewer, label=_other(prediction))
    html = client.get(url).content.decode()
    assert 'id="study-result"' in html and "Your blind reading was" in html


def test_findings_first_ranks_unread_cases_first(predicted, reviewer, radiologist):
    first, second = predicted
    Case.objects.filter(pk=first.pk).update(ai_positive=True, ai_uncertainty=0.99)
    Case.objects.filter(pk=second.pk).update(ai_positive=False, ai_uncertainty=0.01)
    assert list(worklist_for_user(user=radiologist).values_list("pk", flat=True)) == [first.pk, second.pk]
    review_submit(case=first, image=first.images.get(), reviewer=reviewer, label="glioma")
    assert list(worklist_for_user(user=radiologist).values_list("pk", flat=True)) == [second.pk, first.pk]


def test_study_final_label_prefers_a_finding():
    assert study_final_label(task="brain_mri", labels=["notumor", "meningioma", ""]) == "meningioma"
    assert study_final_label(task="brain_mri", labels=["notumor", ""]) == "notumor"
    assert study_final_label(task="brain_mri", labels=["", ""]) == ""
