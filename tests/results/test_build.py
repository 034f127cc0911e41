"""results_build on a real MR series scored by a (trained-flagged) model: the objects, their files and rows."""

from __future__ import annotations

import hashlib
import io
import logging

import highdicom as hd
import pydicom
import pytest
from django.core.files.storage import default_storage
from django.db import IntegrityError

from cases.models import Image
from cases.services.review import review_submit
from inference.models import Prediction
from oncocore.study_result import ImageOutcome, study_finding
from results.models import ResultKind, ResultObject
from results.services.build import results_build
from tests.conftest import require_service
from tests.sr_tree import dsr2xml_ok, have_dcmtk, tree

from .conftest import BRAIN

pytestmark = pytest.mark.django_db
POSITIVE = {"glioma", "meningioma", "pituitary"}


def _read(row: ResultObject) -> pydicom.Dataset:
    with default_storage.open(row.file.name, "rb") as handle:
        return pydicom.dcmread(io.BytesIO(handle.read()))


def _predictions(case) -> list[Prediction]:
    return list(
        Prediction.objects.filter(image__case=case, status="done")
        .select_related("image")
        .order_by("image__instance_number", "image_id")
    )


def test_prediction_builds_overlays_and_ai_sr(scored_case, media_dir):
    rows = results_build(case_id=scored_case.pk, trigger="prediction")

    images = list(Image.objects.filter(case=scored_case).order_by("instance_number", "pk"))
    sc = [r for r in rows if r.kind == ResultKind.SALIENCY_SC]
    (sr_row,) = [r for r in rows if r.kind == ResultKind.AI_SR]
    assert len(sc) == len(images) == 7
    for row in rows:
        assert row.file.name == f"results/{scored_case.pk}/{row.sop_instance_uid}.dcm"
        data = (media_dir / row.file.name).read_bytes()
        assert row.sha256 == hashlib.sha256(data).hexdigest() and row.file_size == len(data)
        assert row.study_instance_uid == scored_case.study.study_instance_uid
    # The overlays: one series, each pointing at its image, burned in, the pixels the viewer shows.
    assert len({r.series_instance_uid for r in sc}) == 1
    by_sop = {i.sop_instance_uid: i for i in images}
    for row in sc:
        ds = _read(row)
        image = by_sop[ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID]
        assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == image.sop_instance_uid
        assert ds.BurnedInAnnotation == "YES" and ds.Modality == "OT"
        assert ds.pixel_array.shape[2] == 3 and ds.pixel_array.any()
        assert row.source["image"] == image.pk
    # The SR: the study rule over the newest predictions, read back with highdicom and dcmtk.
    predictions = _predictions(scored_case)
    expected = study_finding(
        [
            ImageOutcome(p.image_id, p.label, p.confidence, p.probabilities, p.uncertainty)
            for p in predictions
        ],
        POSITIVE,
    )
    ds = _read(sr_row)
    hd.sr.ComprehensiveSR.from_dataset(ds)
    assert ds.PatientID == scored_case.study.patient.pseudonym  # stored de-identified
    root = tree(ds)
    assert root.one("Comment").value == "AI result, not reviewed"
    assert root.one("Algorithm Version").value == "3.1.4"
    assert root.one("Device Observer Name").value == "brain-results"
    study = root.one("Finding")
    assert study.value[0] == expected.label
    assert study.probabilities() == pytest.approx(expected.probabilities, abs=1e-6)
    assert (
        study.one("Best illustration of finding").value[1]
        == Image.objects.get(pk=expected.key_image_id).sop_instance_uid
    )
    per_image = root.find("Image-level AI result")
    assert [c.one("Source of Measurement").value[1] for c in per_image] == [
        i.sop_instance_uid for i in images
    ]
    assert {c.one("Saliency").value[1] for c in per_image} == {r.sop_instance_uid for r in sc}
    for node, prediction in zip(per_image, predictions, strict=True):
        assert node.one("Finding").value[0] == prediction.label
        assert node.one("Finding").probabilities() == pytest.approx(prediction.probabilities, abs=1e-6)
        entropy = node.one("Finding").one("Normalised predictive entropy").value
        assert float(entropy) == pytest.approx(prediction.uncertainty, abs=1e-6)
    assert sr_row.source["predictions"] == sorted(p.pk for p in predictions)

    require_service("dcmtk", have_dcmtk(), "apt-get install dcmtk")
    done = dsr2xml_ok(str(media_dir / sr_row.file.name))
    assert done.returncode == 0, done.stderr


def test_building_twice_makes_nothing_new(scored_case, media_dir):
    first = results_build(case_id=scored_case.pk, trigger="prediction")
    files = sorted(p.name for p in (media_dir / "results").rglob("*.dcm"))

    assert results_build(case_id=scored_case.pk, trigger="prediction") == []
    assert ResultObject.objects.filter(case=scored_case).count() == len(first)
    assert sorted(p.name for p in (media_dir / "results").rglob("*.dcm")) == files


def test_nothing_half_stored_when_the_rows_fail(scored_case, media_dir, mocker):
    real_save = ResultObject.save
    calls = {"n": 0}

    def failing_save(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise IntegrityError("simulated")
        return real_save(self, *args, **kwargs)

    mocker.patch.object(ResultObject, "save", failing_save)
    with pytest.raises(IntegrityError):
        results_build(case_id=scored_case.pk, trigger="prediction")

    assert not ResultObject.objects.filter(case=scored_case).exists()
    assert not list((media_dir / "results").rglob("*.dcm"))


def test_untrained_model_and_plain_images_build_nothing(mr_study, random_model, predicted, mocker, caplog):
    from inference.pipeline import predictions_run
    from inference.services import prediction_request

    mocker.patch("inference.services.run_predictions.delay")
    predictions_run(prediction_ids=[p.pk for p in prediction_request(case=mr_study)])
    with caplog.at_level(logging.INFO, logger="results.services.build"):
        assert results_build(case_id=mr_study.pk, trigger="prediction") == []
        assert results_build(case_id=predicted[0].pk, trigger="prediction") == []
    assert "untrained model" in caplog.text
    assert "plain-image upload" in caplog.text
    assert not ResultObject.objects.exists()


def _review_all(case, reviewer, labels: dict[int, str] | None = None) -> None:
    for prediction in _predictions(case):
        label = (labels or {}).get(prediction.image_id, prediction.label)
        review_submit(case=case, image=prediction.image, reviewer=reviewer, label=label)


def test_review_sr_after_confirmation(scored_case, reviewer, media_dir):
    ai_rows = results_build(case_id=scored_case.pk, trigger="prediction")
    assert results_build(case_id=scored_case.pk, trigger="review") == []  # nothing final yet
    _review_all(scored_case, reviewer)

    (row,) = results_build(case_id=scored_case.pk, trigger="review")

    assert row.kind == ResultKind.REVIEW_SR
    ds = _read(row)
    root = tree(ds)
    ai_sr = next(r for r in ai_rows if r.kind == ResultKind.AI_SR)
    assert root.one("AI result report reviewed").value[1] == ai_sr.sop_instance_uid
    study = root.one("Finding")
    assert study.one("Review decision").value[0] == "CONFIRMED"
    assert study.value == study.one("AI finding shown to the reader").value
    for node in root.find("Image-level review result"):
        assert node.one("Review decision").value[0] == "CONFIRMED"
        assert node.one("Role of the person who decided").value == "Reviewer"
        assert not node.find("Person Observer Name")  # names only when configured
    assert ds.VerificationFlag == "UNVERIFIED"
    assert "rev" not in str(ds.get("VerifyingObserverSequence", ""))
    assert results_build(case_id=scored_case.pk, trigger="review") == []  # idempotent

    require_service("dcmtk", have_dcmtk(), "apt-get install dcmtk")
    assert dsr2xml_ok(str(media_dir / row.file.name)).returncode == 0


def test_review_sr_after_correction_names_the_reader_when_configured(scored_case, reviewer, settings):
    settings.RESULTS_REVIEWER_NAMES = True
    reviewer.first_name, reviewer.last_name = "Ada", "Byron"
    reviewer.save()
    predictions = _predictions(scored_case)
    ai_study = study_finding(
        [ImageOutcome(p.image_id, p.label, p.confidence, p.probabilities) for p in predictions], POSITIVE
    ).label
    final = next(
        c for c in ("glioma", "meningioma") if c != ai_study
    )  # every image: a label the AI did not lead with
    _review_all(scored_case, reviewer, {p.image_id: final for p in predictions})

    (row,) = results_build(case_id=scored_case.pk, trigger="review")

    root = tree(_read(row))
    study = root.one("Finding")
    assert study.value[0] == final
    assert study.one("Review decision").value[0] == "CORRECTED"
    assert study.one("AI finding shown to the reader").value[0] == ai_study
    nodes = root.find("Image-level review result")
    assert [n.one("Finding").value[0] for n in nodes] == [final] * len(predictions)
    assert [n.one("Review decision").value[0] for n in nodes] == [
        "CONFIRMED" if p.label == final else "CORRECTED" for p in predictions
    ]
    assert [n.one("AI finding shown to the reader").value[0] for n in nodes] == [p.label for p in predictions]
    assert {n.one("Person Observer Name").value for n in nodes} == {"Byron^Ada"}
    assert _read(row).VerificationFlag == "VERIFIED"
    assert not root.find("AI result report reviewed")  # no AI SR was built for this case


def test_review_sr_after_adjudication(scored_case, reviewer, radiologist, curator):
    from cases.models import ReviewPolicy
    from cases.services.adjudication import adjudication_submit

    ReviewPolicy.objects.create(task=scored_case.task, readers_required=2)
    predictions = _predictions(scored_case)
    disputed = predictions[0]
    other = next(c for c in BRAIN if c != disputed.label)
    _review_all(scored_case, reviewer)
    _review_all(scored_case, radiologist, {disputed.image_id: other})
    assert results_build(case_id=scored_case.pk, trigger="review") == []  # waiting for the Curator

    adjudication_submit(case=scored_case, image=disputed.image, curator=curator, label=other)
    (row,) = results_build(case_id=scored_case.pk, trigger="review")

    nodes = tree(_read(row)).find("Image-level review result")
    assert nodes[0].one("Finding").value[0] == other
    assert nodes[0].one("Review decision").value[0] == "CORRECTED"
    assert nodes[0].one("Role of the person who decided").value == "Curator (adjudication)"
    assert {n.one("Role of the person who decided").value for n in nodes[1:]} == {"Radiologist"}
    assert [n.one("Finding").value[0] for n in nodes[1:]] == [p.label for p in predictions[1:]]
    assert row.source["adjudications"] and len(row.source["reviews"]) == 2 * len(predictions)
