"""Drift references: built from the model's validation images through the one scoring path; refusals."""

from __future__ import annotations

import pytest

from cases.models import AuditEvent, AuditSource
from cases.services.audit import AuditContext
from curation.models import Snapshot
from lifecycle.models import DriftReference
from lifecycle.services.drift import drift_reference_build, reference_source
from oncoportal.exceptions import InvalidInput
from retraining.models import TrainingJob
from tests.lifecycle.drift_support import REFERENCE_IMAGES, reference_for
from tests.retraining.conftest import freeze

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
CLI = AuditContext.system(source=AuditSource.CLI)


def test_reference_from_the_models_own_validation_split(brain_model, brain_validation_rows):
    reference = reference_for(brain_model)
    assert reference.n == REFERENCE_IMAGES
    assert reference.source == "data folder brain_mri, the model's validation split"
    stats = reference.stats
    assert stats["classes"]["names"] == brain_model.class_names
    assert sum(stats["classes"]["counts"]) + stats["scope"]["out"] == REFERENCE_IMAGES
    assert stats["scope"]["out"] <= 3  # the check flags about 1 % of its own validation images
    for name in ("mean", "std", "dark", "height", "width", "channels"):
        assert sum(stats["hists"][name]["counts"]) == REFERENCE_IMAGES
    assert stats["members"] == [{"version_id": brain_model.pk, "version": str(brain_model), "weight": 1.0}]
    assert AuditEvent.objects.filter(action="drift_reference.built", object_id=str(reference.pk)).exists()
    # A rebuild replaces it: one reference per version.
    again = reference_for(brain_model, limit=40)
    assert again.pk == reference.pk and DriftReference.objects.get().n == 40


def test_a_training_jobs_snapshot_comes_before_the_data_folder(data_dir, brain_model, site, curator):
    snapshot = freeze(data_dir, site=site, user=curator)
    TrainingJob.objects.create(
        snapshot=snapshot, task="brain_mri", recipe="quick", result_version=brain_model
    )
    source, keys, _ = reference_source(version=brain_model)
    assert source == f"snapshot {snapshot.name}, validation split" and len(keys) == 4
    # Four validation images are too few for a reference: refused, nothing stored.
    with pytest.raises(InvalidInput, match="only 4 validation image"):
        drift_reference_build(version=brain_model, audit=CLI)
    assert not DriftReference.objects.exists()


def test_refusals_store_nothing(brain_model, tmp_path, settings):
    lung = Snapshot(task="lung_ct", version=1, name="lung_ct-v1")  # unsaved: the check reads the task only
    with pytest.raises(InvalidInput, match="is of task lung_ct"):
        drift_reference_build(version=brain_model, audit=CLI, snapshot=lung)
    settings.DATA_DIR = tmp_path  # no training data here
    with pytest.raises(InvalidInput, match="no validation images"):
        drift_reference_build(version=brain_model, audit=CLI)
    assert not DriftReference.objects.exists()


def test_the_pipeline_stores_each_inputs_statistics(predicted):
    from inference.models import Prediction

    rows = Prediction.objects.filter(image__case__in=predicted, status=Prediction.Status.DONE)
    assert rows.count() == 2
    for row in rows:
        stats = row.input_stats
        assert set(stats) == {"mean", "std", "dark", "height", "width", "channels"}
        assert 0 < stats["mean"] < 1 and stats["channels"] == 1
        assert stats["height"] == row.image.rows and stats["width"] == row.image.cols
