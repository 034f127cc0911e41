"""Examples follow the readings: each provenance through the real review and adjudication services."""

from __future__ import annotations

import pytest

from cases.models import AuditEvent, CaseStatus, Review
from cases.services.adjudication import adjudication_submit
from cases.services.audit import AuditContext
from cases.services.review import review_submit
from curation.models import Example, Provenance
from curation.services.examples import case_examples_refresh, examples_set_included, examples_sync_all
from oncoportal.exceptions import InvalidInput
from tests.curation.conftest import other_label

pytestmark = pytest.mark.django_db


def test_a_confirmed_ai_label_is_ai_confirmed_with_the_patient_as_group(predicted, reviewer, review):
    case = predicted[0]
    image = case.images.get()
    prediction = image.predictions.get()
    review(case, reviewer, label=prediction.label)

    example = Example.objects.get(image=image)
    assert example.provenance == Provenance.AI_CONFIRMED
    assert example.label == prediction.label and example.task == case.task and example.site == case.site
    assert example.model_version == str(prediction.model_version) != ""
    assert example.group == case.study.patient.pseudonym
    assert (example.readers, example.disagreement, example.included) == (1, False, True)
    assert example.labelled_at == image.reviews.get().submitted_at
    refreshed = AuditEvent.objects.get(action="curation.examples_refreshed")
    assert refreshed.source == "worker" and refreshed.object_id == str(case.pk)


def test_a_correction_is_corrected(predicted, reviewer, review):
    case = predicted[0]
    label = other_label(case.images.get())
    review(case, reviewer, label=label)
    example = Example.objects.get(case=case)
    assert (example.provenance, example.label) == (Provenance.CORRECTED, label)


def test_non_diagnostic_is_listed_without_a_label(predicted, reviewer, review):
    case = predicted[0]
    review(case, reviewer, non_diagnostic=True)
    example = Example.objects.get(case=case)
    assert (example.provenance, example.label) == (Provenance.NON_DIAGNOSTIC, "")


def test_a_label_without_an_ai_result_is_labelled(brain_case, reviewer, review):
    case = brain_case.first()
    review(case, reviewer, label="pituitary")
    example = Example.objects.get(case=case)
    assert (example.provenance, example.label, example.model_version) == (
        Provenance.LABELLED,
        "pituitary",
        "",
    )


def test_an_adjudicated_image_takes_the_curators_label(
    predicted, reviewer, second_reviewer, curator, double_read, review, django_capture_on_commit_callbacks
):
    case = predicted[0]
    image = case.images.get()
    review(case, reviewer, label="glioma")
    review(case, second_reviewer, label="pituitary")
    assert not Example.objects.exists()  # disputed: no final label yet
    with django_capture_on_commit_callbacks(execute=True):
        decision = adjudication_submit(case=case, image=image, curator=curator, label="meningioma")

    example = Example.objects.get(image=image)
    assert (example.provenance, example.label) == (Provenance.ADJUDICATED, "meningioma")
    assert example.disagreement and example.readers == 2
    assert example.labelled_at == decision.decided_at
    assert example.model_version == decision.ai_model_version != ""


def test_two_agreeing_readers_make_one_example_without_disagreement(
    predicted, reviewer, second_reviewer, double_read, review
):
    case = predicted[0]
    label = other_label(case.images.get())
    review(case, reviewer, label=label)
    assert not Example.objects.exists()  # one reading of two
    review(case, second_reviewer, label=label)
    example = Example.objects.get(case=case)
    assert (example.provenance, example.readers, example.disagreement) == (Provenance.CORRECTED, 2, False)


def test_a_refresh_keeps_the_curators_decision_and_is_idempotent(predicted, reviewer, curator, review):
    case = predicted[0]
    image = case.images.get()
    review(case, reviewer, label="glioma")
    example = Example.objects.get(image=image)
    audit = AuditContext.system(source="cli", actor=curator)
    examples_set_included(examples=[example], included=False, reason="motion blur", audit=audit)

    assert case_examples_refresh(case=case) == []  # nothing new to say: nothing written
    # The reading changes under it (by hand: since issue 23 a reviewed case takes no further
    # reading, see test_reading.py): the refresh writes the new label, the decision stays.
    Review.objects.filter(image=image).update(label="pituitary")
    (written,) = case_examples_refresh(case=case)
    written.refresh_from_db()
    assert written.label == "pituitary" and written.readers == 1
    assert (written.included, written.exclusion_reason, written.curated_by) == (False, "motion blur", curator)


def test_a_case_not_reviewed_yet_has_no_examples(predicted):
    case = predicted[0]
    assert case.status == CaseStatus.PREDICTED
    assert case_examples_refresh(case=case) == []
    assert not Example.objects.exists()


def test_a_case_without_a_patient_is_its_own_group(data_dir, site, reviewer, review):
    from cases.models import Case
    from cases.services.intake import intake_sources

    path = sorted((data_dir / "brain_mri" / "train" / "glioma").glob("*.jpg"))[0]
    report = intake_sources(
        uploads=[(path.name, path.read_bytes())], site=site, user=None, source="web", task="brain_mri"
    )
    case = Case.objects.get(pk=report.case_ids[0])
    review(case, reviewer, label="glioma")
    assert Example.objects.get(case=case).group == f"case-{case.pk}"


def test_sync_builds_examples_for_earlier_readings_once(predicted, reviewer):
    for case in predicted:  # reviewed without the listeners: data from before curation
        review_submit(case=case, image=case.images.get(), reviewer=reviewer, label="glioma")
    assert not Example.objects.exists()

    assert examples_sync_all() == (2, 2)
    assert Example.objects.count() == 2
    events = AuditEvent.objects.filter(action="curation.examples_refreshed").count()
    assert examples_sync_all() == (2, 0)
    assert AuditEvent.objects.filter(action="curation.examples_refreshed").count() == events


def test_exclude_needs_a_reason_and_each_change_is_audited(make_example, site, curator):
    first, second = make_example(site), make_example(site)
    audit = AuditContext(source="web", actor=curator, ip="10.0.0.7", user_agent="pytest")
    with pytest.raises(InvalidInput, match="why"):
        examples_set_included(examples=[first, second], included=False, reason="  ", audit=audit)
    assert Example.objects.filter(included=True).count() == 2

    changed = examples_set_included(
        examples=[first, second], included=False, reason=" artefact ", audit=audit
    )
    assert {e.pk for e in changed} == {first.pk, second.pk}
    first.refresh_from_db()
    assert (first.included, first.exclusion_reason, first.curated_by) == (False, "artefact", curator)
    events = AuditEvent.objects.filter(action="curation.example_excluded").order_by("object_id")
    assert [e.object_id for e in events] == sorted([str(first.pk), str(second.pk)])
    assert all(
        (e.actor, e.source, e.ip_address, e.detail["reason"]) == (curator, "web", "10.0.0.7", "artefact")
        for e in events
    )
    # The same decision again changes nothing; including clears the reason.
    assert examples_set_included(examples=[first], included=False, reason="artefact", audit=audit) == []
    examples_set_included(examples=[first], included=True, audit=audit)
    first.refresh_from_db()
    assert (first.included, first.exclusion_reason) == (True, "")
    assert AuditEvent.objects.filter(action="curation.example_included", object_id=str(first.pk)).exists()
