"""Result-object fixtures: a real MR series (7 instances) ingested, scored by a trained-flagged random model."""

from __future__ import annotations

import json

import pytest

MR_SERIES = "dicom/pydicom/dicomdirtests/98892003/MR700"
BRAIN = ["glioma", "meningioma", "notumor", "pituitary"]


@pytest.fixture(scope="session")
def trained_bundle(tmp_path_factory):
    """A small random-weight brain bundle whose card says trained (stands for a shipped model)."""
    from oncocore import registry

    folder = tmp_path_factory.mktemp("bundles") / "brain-results"
    registry.make_random_bundle(folder, task="brain_mri", class_names=BRAIN, input_size=64)
    card = json.loads((folder / "model.json").read_text())
    card.update(untrained=False, name="brain-results", version="3.1.4")
    (folder / "model.json").write_text(json.dumps(card))
    return folder


@pytest.fixture
def trained_model(db, trained_bundle):
    from inference.services import model_version_activate, model_version_register

    version, _ = model_version_register(bundle_dir=trained_bundle)
    model_version_activate(version=version)
    return version


@pytest.fixture
def mr_case(data_dir, site, radiologist):
    """The MR series ingested as one brain MRI case (before any model is active: nothing queued)."""
    from cases.models import Case, Task
    from cases.services.intake import intake_sources

    paths = sorted((data_dir / MR_SERIES).iterdir())
    report = intake_sources(
        uploads=[(p.name, p.read_bytes()) for p in paths],
        site=site,
        user=radiologist,
        source="web",
        task=Task.BRAIN_MRI,
    )
    assert len(report.accepted) == len(paths), report
    (case_id,) = set(report.case_ids)
    return Case.objects.get(pk=case_id)


@pytest.fixture
def scored_case(mr_case, trained_model, mocker, django_capture_on_commit_callbacks):
    """The MR case with every image's prediction done by the trained-flagged model (run in this process)."""
    from inference.pipeline import predictions_run
    from inference.services import prediction_request

    mocker.patch("inference.services.run_predictions.delay")
    with django_capture_on_commit_callbacks(execute=True):
        ids = [p.pk for p in prediction_request(case=mr_case)]
    assert predictions_run(prediction_ids=ids) == len(ids)
    mr_case.refresh_from_db()
    return mr_case
