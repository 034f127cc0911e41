"""Second reader and adjudication: blinded double reads, disagreement, the Curator's final label."""

from __future__ import annotations

import pytest

from cases.models import Adjudication, AuditEvent, CaseStatus, ReviewPolicy, Task
from cases.services.adjudication import adjudication_submit
from cases.services.review import case_readings, readers_required, review_submit
from oncoportal.exceptions import InvalidInput, TransitionNotAllowed

pytestmark = pytest.mark.django_db


@pytest.fixture
def double_read(db):
    return ReviewPolicy.objects.create(task=Task.BRAIN_MRI, readers_required=2)


@pytest.fixture
def second_reviewer(make_user, site):
    return make_user("rev2", "Reviewer", site)


def _other_label(image):
    prediction = image.predictions.get()
    return next(name for name in prediction.probabilities if name != prediction.label)


def test_one_reader_is_the_default(predicted, reviewer):
    assert readers_required(task=Task.BRAIN_MRI) == 1
    case = predicted[0]
    review_submit(case=case, image=case.images.get(), reviewer=reviewer, label="glioma")
    case.refresh_from_db()
    assert case.status == CaseStatus.REVIEWED


def test_double_read_waits_for_the_second_reader_and_agreement_finishes(
    predicted, reviewer, second_reviewer, double_read
):
    case = predicted[0]
    image = case.images.get()
    review_submit(case=case, image=image, reviewer=reviewer, label="glioma")
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_REVIEW  # one of two readings
    (reading,) = case_readings(case=case)
    assert not reading.complete and reading.hidden_from(second_reviewer) and not reading.hidden_from(reviewer)

    review_submit(case=case, image=image, reviewer=second_reviewer, label="glioma")
    case.refresh_from_db()
    assert case.status == CaseStatus.REVIEWED
    assert not AuditEvent.objects.filter(action="case.sent_to_adjudication").exists()


def test_disagreement_goes_to_adjudication_and_the_curator_decides(
    predicted, reviewer, second_reviewer, curator, double_read
):
    case = predicted[0]
    image = case.images.get()
    first = review_submit(case=case, image=image, reviewer=reviewer, label="glioma")
    second = review_submit(case=case, image=image, reviewer=second_reviewer, non_diagnostic=True)
    case.refresh_from_db()
    assert case.status == CaseStatus.ADJUDICATION
    sent = AuditEvent.objects.get(action="case.sent_to_adjudication")
    assert sent.detail["images"] == {str(image.pk): ["", "glioma"]}

    with pytest.raises(TransitionNotAllowed, match="adjudication"):
        review_submit(case=case, image=image, reviewer=curator, label="glioma")  # no third reading now

    decision = adjudication_submit(case=case, image=image, curator=curator, label="meningioma", note=" rim ")
    case.refresh_from_db()
    assert case.status == CaseStatus.REVIEWED
    # Provenance: both readings as they were, and the AI result shown.
    assert [r["review"] for r in decision.readings] == [first.pk, second.pk]
    assert [r["label"] for r in decision.readings] == ["glioma", ""]
    prediction = image.predictions.get()
    assert decision.ai_label == prediction.label and decision.ai_probabilities == prediction.probabilities
    assert decision.note == "rim" and decision.curator == curator
    assert AuditEvent.objects.filter(action="adjudication.decided", object_id=str(decision.pk)).exists()

    with pytest.raises(TransitionNotAllowed):
        adjudication_submit(case=case, image=image, curator=curator, label="glioma")  # final is final
    assert Adjudication.objects.count() == 1


def test_adjudication_refuses_bad_input(
    predicted, reviewer, second_reviewer, curator, make_user, site, double_read
):
    case, other_case = predicted
    image = case.images.get()
    with pytest.raises(TransitionNotAllowed, match="not awaiting adjudication"):
        adjudication_submit(case=case, image=image, curator=curator, label="glioma")

    review_submit(case=case, image=image, reviewer=reviewer, label="glioma")
    review_submit(case=case, image=image, reviewer=curator, label="pituitary")
    case.refresh_from_db()
    assert case.status == CaseStatus.ADJUDICATION
    with pytest.raises(TransitionNotAllowed, match="you read this image"):
        adjudication_submit(case=case, image=image, curator=curator, label="glioma")
    other_curator = make_user("cur2", "Curator", None)
    with pytest.raises(InvalidInput, match="choose one of"):
        adjudication_submit(case=case, image=image, curator=other_curator, label="not-a-class")
    with pytest.raises(InvalidInput, match="another case"):
        adjudication_submit(case=case, image=other_case.images.get(), curator=other_curator, label="glioma")
    assert not Adjudication.objects.exists()
    case.refresh_from_db()
    assert case.status == CaseStatus.ADJUDICATION
