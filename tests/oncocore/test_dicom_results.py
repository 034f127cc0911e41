"""The result-object builders on a real MR series (7 instances of one study), read back with highdicom and dcmtk."""

from __future__ import annotations

from datetime import datetime

import highdicom as hd
import numpy as np
import pydicom
import pytest

from oncocore.dicom_results import (
    NOT_REVIEWED,
    ImageResult,
    ImageReview,
    ModelInfo,
    Overlay,
    ResultInputError,
    ai_sr,
    review_sr,
    saliency_sc,
)
from oncocore.study_result import ImageOutcome, study_finding
from tests.conftest import require_service
from tests.sr_tree import dsr2xml_ok, have_dcmtk, part10, reread, tree

from .conftest import DATA_DIR
from .helpers import BRAIN_CLASSES

SERIES = "dicom/pydicom/dicomdirtests/98892003/MR700"
POSITIVE = {"glioma", "meningioma", "pituitary"}


@pytest.fixture
def sources():
    folder = DATA_DIR / SERIES
    if not folder.is_dir():
        require_service("sample data", False, f"no {folder}")
    return [pydicom.dcmread(path, stop_before_pixels=True) for path in sorted(folder.iterdir())]


def _results(sources, overlays=None):
    results, outcomes = [], []
    for n, source in enumerate(sources):
        label = "notumor" if n != 3 else "glioma"
        probs = {c: (0.61 if c == label else 0.13) for c in BRAIN_CLASSES}
        results.append(
            ImageResult(n, source, label, probs, 0.25 + n / 100, overlay=overlays[n] if overlays else None)
        )
        outcomes.append(ImageOutcome(n, label, 0.61, probs, 0.25 + n / 100))
    return results, study_finding(outcomes, POSITIVE)


def test_saliency_sc_one_series_referencing_each_source(sources):
    rgb = [np.full((20, 24, 3), n * 30, dtype=np.uint8) for n in range(len(sources))]
    built = saliency_sc(overlays=[Overlay(s, a) for s, a in zip(sources, rgb, strict=True)])

    assert len(built) == len(sources)
    assert len({ds.SeriesInstanceUID for ds in built}) == 1
    assert built[0].SeriesInstanceUID not in {s.SeriesInstanceUID for s in sources}
    for ds, source, pixels in zip(built, sources, rgb, strict=True):
        back = reread(ds)  # highdicom 0.28 has no SCImage.from_dataset: pydicom reads it
        assert back.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"
        assert back.StudyInstanceUID == source.StudyInstanceUID
        assert back.PatientID == source.PatientID and back.PatientName == source.PatientName
        assert back.ReferencedImageSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
        assert back.SourceImageSequence[0].ReferencedSOPClassUID == source.SOPClassUID
        assert back.BurnedInAnnotation == "YES"
        assert back.ImageComments == "AI saliency overlay, not reviewed"
        assert back.Manufacturer == "OncoPortal" and back.SoftwareVersions
        assert back.PhotometricInterpretation == "RGB"
        np.testing.assert_array_equal(back.pixel_array, pixels)
    # The series is sagittal-ish: rows run posterior-left, columns to the feet.
    assert list(built[0].PatientOrientation) == ["PL", "F"]


def test_ai_sr_carries_finding_probabilities_model_and_references(sources, tmp_path):
    overlays = saliency_sc(overlays=[Overlay(s, np.zeros((8, 8, 3), np.uint8)) for s in sources])
    results, finding = _results(sources, overlays)
    ds = reread(
        ai_sr(study=finding, images=results, model=ModelInfo("brain-net", "2.1.0"), classes=BRAIN_CLASSES)
    )

    sr = hd.sr.ComprehensiveSR.from_dataset(ds)
    assert sr.VerificationFlag == "UNVERIFIED" and sr.CompletionFlag == "COMPLETE"
    assert sr.StudyInstanceUID == sources[0].StudyInstanceUID and sr.PatientID == sources[0].PatientID
    root = tree(ds)
    assert root.name == "Diagnostic imaging report"
    assert root.one("Comment").value == NOT_REVIEWED
    assert root.one("Device Observer Name").value == "brain-net"
    assert root.one("Algorithm Version").value == "2.1.0"
    # The study finding is the one positive image (index 3), with that image's probabilities.
    study = root.one("Finding")
    assert study.value == ("glioma", "99ONCO", "Glioma")
    assert study.probabilities() == pytest.approx(
        {"glioma": 0.61, "meningioma": 0.13, "notumor": 0.13, "pituitary": 0.13}
    )
    assert [p.one("Finding").value[0] for p in study.find("Probability")] == BRAIN_CLASSES
    assert float(study.one("Normalised predictive entropy").value) == pytest.approx(0.31)
    key = study.one("Best illustration of finding")
    assert key.rel == "INFERRED FROM" and key.value[1] == sources[3].SOPInstanceUID
    per_image = root.find("Image-level AI result")
    assert [c.one("Source of Measurement").value[1] for c in per_image] == [s.SOPInstanceUID for s in sources]
    assert [c.one("Saliency").value[1] for c in per_image] == [o.SOPInstanceUID for o in overlays]
    assert [c.one("Finding").value[0] for c in per_image] == [r.label for r in results]
    assert float(per_image[3].one("Finding").one("Suspicion rank in study").value) == 1
    unit = ds.ContentSequence  # the probability unit is UCUM {probability}
    assert any(
        n.MeasuredValueSequence[0].MeasurementUnitsCodeSequence[0].CodeValue == "{probability}"
        for item in unit
        if item.ValueType == "CODE"
        for n in item.get("ContentSequence", [])
        if n.ValueType == "NUM" and n.ConceptNameCodeSequence[0].CodeMeaning == "Probability"
    )
    evidence = {
        i.ReferencedSOPInstanceUID
        for st in ds.CurrentRequestedProcedureEvidenceSequence
        for se in st.ReferencedSeriesSequence
        for i in se.ReferencedSOPSequence
    }
    assert {s.SOPInstanceUID for s in sources} | {o.SOPInstanceUID for o in overlays} <= evidence

    require_service("dcmtk", have_dcmtk(), "apt-get install dcmtk")
    path = tmp_path / "ai.dcm"
    path.write_bytes(part10(ds))
    done = dsr2xml_ok(str(path))
    assert done.returncode == 0, done.stderr
    assert "AI result, not reviewed" in done.stdout and "99ONCO" in done.stdout


@pytest.mark.parametrize(
    "final, decision", [("glioma", "AI label confirmed"), ("meningioma", "AI label corrected")]
)
def test_review_sr_says_confirmed_or_corrected_by_role(sources, tmp_path, final, decision):
    results, finding = _results(sources)
    report = ai_sr(
        study=finding, images=results, model=ModelInfo("brain-net", "2.1.0"), classes=BRAIN_CLASSES
    )
    decided = datetime(2026, 11, 30, 8, 15, 0)
    reviews = [
        ImageReview(
            r.image_id, r.source, final if r.image_id == 3 else r.label, r.label, "Radiologist", decided
        )
        for r in results
    ]
    ds = reread(
        review_sr(
            images=reviews, study_label=final, key_image_id=3, ai_study_label=finding.label, ai_report=report
        )
    )

    assert hd.sr.ComprehensiveSR.from_dataset(ds).VerificationFlag == "UNVERIFIED"  # no name may be shown
    root = tree(ds)
    study = root.one("Finding")
    assert study.value[0] == final
    assert study.one("Review decision").value[2] == decision
    assert study.one("AI finding shown to the reader").value[0] == "glioma"
    assert root.one("AI result report reviewed").value[1] == report.SOPInstanceUID
    image = root.find("Image-level review result")[3]
    assert image.one("Role of the person who decided").value == "Radiologist"
    assert image.one("Date/time of the decision").value.startswith("20261130081500")
    assert not image.find("Person Observer Name")
    assert "Person Observer Name" not in {c.name for c in root.children}

    require_service("dcmtk", have_dcmtk(), "apt-get install dcmtk")
    path = tmp_path / "review.dcm"
    path.write_bytes(part10(ds))
    assert dsr2xml_ok(str(path)).returncode == 0


def test_review_sr_names_the_person_only_when_given(sources):
    results, _ = _results(sources)
    decided = datetime(2026, 11, 30, 8, 15, 0)
    reviews = [
        ImageReview(
            r.image_id, r.source, r.label, r.label, "Curator (adjudication)", decided, name="Curie^Marie"
        )
        for r in results
    ]
    ds = review_sr(
        images=reviews,
        study_label="glioma",
        key_image_id=3,
        verifying_observer=("Curie^Marie", "UH Radiology"),
    )
    assert ds.VerificationFlag == "VERIFIED"
    assert ds.VerifyingObserverSequence[0].VerifyingObserverName == "Curie^Marie"
    root = tree(ds)
    assert root.one("Person Observer Name").value == "Curie^Marie"
    assert root.find("Image-level review result")[0].one("Person Observer Name").value == "Curie^Marie"
    assert root.one("Finding").one("Review decision").value[2] == "Labelled without an AI result"


def test_bad_input_is_refused(sources):
    with pytest.raises(ResultInputError, match="no source images"):
        saliency_sc(overlays=[])
    with pytest.raises(ResultInputError, match="RGB uint8"):
        saliency_sc(overlays=[Overlay(sources[0], np.zeros((8, 8), np.uint8))])
    other = pydicom.Dataset()
    other.update(sources[1])
    other.StudyInstanceUID = "1.2.3.4"
    with pytest.raises(ResultInputError, match="2 studies"):
        saliency_sc(overlays=[Overlay(s, np.zeros((8, 8, 3), np.uint8)) for s in (sources[0], other)])
    results, finding = _results(sources[:2])
    with pytest.raises(ResultInputError, match="key image"):
        ai_sr(
            study=finding,
            images=results[:1] if finding.key_image_id == 1 else results[1:],
            model=ModelInfo("m", "1"),
        )
