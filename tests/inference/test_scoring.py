"""The Django half of scoring: renderings cached from the stored cells, forgotten on a rerun, never orphaned."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.files.storage import default_storage

from inference.models import Prediction, TryOut
from inference.pipeline import predictions_run
from inference.scoring import prediction_overlay_name, saliency_png_name, tryout_overlay_name
from inference.services import prediction_request
from inference.tryout.worker import tryout_run
from oncocore.saliency import cam_to_png16, png16_to_cam
from tests.inference.conftest import files_under

pytestmark = pytest.mark.django_db


def test_a_rerun_forgets_the_renderings_of_the_old_map(
    brain_case, random_model, django_capture_on_commit_callbacks, mocker, media_dir
):
    mocker.patch("inference.services.run_predictions.delay")
    with django_capture_on_commit_callbacks(execute=True):
        (created,) = prediction_request(case=brain_case.first())
    predictions_run(prediction_ids=[created.pk])
    p = Prediction.objects.get(pk=created.pk)
    saliency_png_name(p)
    prediction_overlay_name(p)
    folder = f"predictions/{p.pk}"
    assert files_under(media_dir, folder) == [
        f"{folder}/cam.png",
        f"{folder}/overlay.png",
        f"{folder}/saliency.png",
    ]
    Prediction.objects.filter(pk=p.pk).update(status=Prediction.Status.QUEUED)  # the sweeper's forced rerun
    predictions_run(prediction_ids=[p.pk])
    p.refresh_from_db()
    assert files_under(media_dir, folder) == [f"{folder}/cam.png"] and p.saliency_overlay.name == ""
    assert prediction_overlay_name(p) == f"{folder}/overlay.png"  # drawn again, from the new map


def test_a_try_out_discarded_while_its_overlay_is_drawn_leaves_no_file(
    start, radiologist, random_model, glioma, media_dir, mocker
):
    created = start(radiologist, glioma)
    assert tryout_run(tryout_id=str(created.pk))
    created.refresh_from_db()
    TryOut.objects.filter(pk=created.pk).delete()  # its files stay for the test: only the row goes
    with pytest.raises(FileNotFoundError, match="gone"):
        tryout_overlay_name(created)
    assert not default_storage.exists(f"{created.storage_prefix}/overlay.png")
    assert files_under(media_dir, created.storage_prefix)  # the rest is the expiry's to delete


def test_a_try_out_whose_model_is_gone_has_no_overlay(start, radiologist, random_model, glioma):
    created = start(radiologist, glioma)
    assert tryout_run(tryout_id=str(created.pk))
    created.refresh_from_db()
    created.model_version = None
    with pytest.raises(FileNotFoundError):
        tryout_overlay_name(created)


def test_a_rerun_of_a_prediction_stored_before_issue_17_does_not_serve_its_old_map(
    brain_case, random_model, django_capture_on_commit_callbacks, mocker, media_dir
):
    mocker.patch("inference.services.run_predictions.delay")
    with django_capture_on_commit_callbacks(execute=True):
        (created,) = prediction_request(case=brain_case.first())
    folder = f"predictions/{created.pk}"
    old_full = np.ones((created.image.rows, created.image.cols), np.float32)  # stands for the old map
    Prediction.objects.filter(pk=created.pk).update(
        saliency_raw=default_storage.save(f"{folder}/saliency.png", io.BytesIO(cam_to_png16(old_full))),
        saliency_overlay=default_storage.save(f"{folder}/overlay.png", io.BytesIO(b"old overlay")),
    )
    predictions_run(prediction_ids=[created.pk])
    p = Prediction.objects.get(pk=created.pk)
    assert files_under(media_dir, folder) == [f"{folder}/cam.png"]
    with default_storage.open(saliency_png_name(p)) as fh:
        assert not np.array_equal(png16_to_cam(fh.read()), old_full)
