"""The worker pipeline in-process: requests, runs, idempotency, failures, the sweeper, parity."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import numpy as np
import pytest
import torch
from django.core.files.storage import default_storage
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from PIL import Image as PILImage

from cases.models import Case, CaseStatus
from inference import pipeline as pipeline_module
from inference.case_status import case_refresh_status, cases_refresh_status
from inference.decode import serving_array
from inference.models import Prediction
from inference.pipeline import predictions_run
from inference.scoring import prediction_overlay_name, saliency_png_name
from inference.services import case_retry, prediction_request
from inference.sweep import predictions_sweep
from oncocore.preprocessing import normalize_uint8, preprocess
from oncocore.registry import BundleError, load_card
from oncocore.training.data import BatchLoader, CachedImageDataset
from tests.inference.conftest import BRAIN_CLASSES as BRAIN

pytestmark = pytest.mark.django_db


def _request(cases, django_capture_on_commit_callbacks, mocker):
    delay = mocker.patch("inference.services.run_predictions.delay")
    with django_capture_on_commit_callbacks(execute=True):
        created = [p for case in cases for p in prediction_request(case=case)]
    return created, delay


def test_request_queues_each_image_once(brain_case, random_model, django_capture_on_commit_callbacks, mocker):
    created, delay = _request(brain_case, django_capture_on_commit_callbacks, mocker)
    assert len(created) == 2
    assert {c.status for c in Case.objects.all()} == {CaseStatus.QUEUED}
    assert delay.call_count == 2  # one task per case (each plain image is its own case)
    again, _ = _request(brain_case, django_capture_on_commit_callbacks, mocker)
    assert again == []
    assert Prediction.objects.count() == 2


def test_run_stores_prediction_saliency_and_timings(
    brain_case, random_model, django_capture_on_commit_callbacks, mocker
):
    created, _ = _request(brain_case, django_capture_on_commit_callbacks, mocker)
    assert predictions_run(prediction_ids=[p.pk for p in created]) == 2
    for p in Prediction.objects.all():
        assert p.status == Prediction.Status.DONE
        assert set(p.probabilities) == {"glioma", "meningioma", "notumor", "pituitary"}
        assert abs(sum(p.probabilities.values()) - 1) < 1e-4
        assert 0.0 <= p.uncertainty <= 1.0
        assert p.untrained is True  # random weights are never a diagnosis
        assert p.device == "cpu"
        for stage in ("queue_wait_ms", "decode_ms", "preprocess_ms", "forward_ms", "saliency_ms", "save_ms"):
            assert p.timings[stage] is not None and p.timings[stage] >= 0
        # Issue 17: the stored map is the model's own grid (tinycnn at 64 px: a few cells);
        # the full-resolution map and the overlay are rendered on first request.
        with default_storage.open(p.saliency_raw.name) as fh:
            cells = np.asarray(PILImage.open(fh))
        assert cells.shape == tuple(p.saliency_geometry["shape"]) and cells.shape[0] < 64
        assert p.saliency_geometry["geometry"]["original_hw"] == [p.image.rows, p.image.cols]
        assert p.saliency_overlay.name == ""  # not drawn by the worker any more
        with default_storage.open(saliency_png_name(p)) as fh:
            cam = np.asarray(PILImage.open(fh))
        assert cam.shape == (p.image.rows, p.image.cols)  # the image's shape
        assert np.isfinite(cam).all() and cam.max() > cam.min()  # not constant
        with default_storage.open(prediction_overlay_name(p)) as fh:
            overlay = PILImage.open(fh)
            overlay.load()
        assert overlay.mode == "RGB" and overlay.size == (p.image.cols, p.image.rows)
    assert {c.status for c in Case.objects.all()} == {CaseStatus.PREDICTED}


def test_running_twice_writes_nothing_twice(
    brain_case, random_model, django_capture_on_commit_callbacks, mocker, media_dir
):
    created, _ = _request(brain_case, django_capture_on_commit_callbacks, mocker)
    ids = [p.pk for p in created]
    predictions_run(prediction_ids=ids)
    files = sorted(p for p in (media_dir / "predictions").rglob("*") if p.is_file())
    rows = list(Prediction.objects.values_list("pk", "label", "finished_at"))
    assert predictions_run(prediction_ids=ids) == 0  # second delivery: nothing claimed
    # Even a forced rerun of a DONE row (sweeper race) overwrites the same files.
    Prediction.objects.filter(pk=ids[0]).update(status=Prediction.Status.QUEUED)
    predictions_run(prediction_ids=ids)
    assert sorted(p for p in (media_dir / "predictions").rglob("*") if p.is_file()) == files
    assert Prediction.objects.count() == len(rows)


def test_corrupt_pixels_fail_the_case_with_a_reason_and_retry_recovers(
    brain_case, random_model, django_capture_on_commit_callbacks, mocker
):
    created, _ = _request(brain_case, django_capture_on_commit_callbacks, mocker)
    broken = created[0]
    original = default_storage.open(broken.image.file.name).read()
    with default_storage.open(broken.image.file.name, "wb") as fh:
        fh.write(b"garbage")
    predictions_run(prediction_ids=[p.pk for p in created])
    case = broken.image.case
    case.refresh_from_db()
    assert case.status == CaseStatus.FAILED
    assert "cannot decode image" in case.failure_reason
    # Fix the file, retry: the case goes back through the queue and succeeds.
    default_storage.delete(broken.image.file.name)
    default_storage.save(broken.image.file.name, io.BytesIO(original))
    delay = mocker.patch("inference.services.run_predictions.delay")
    with django_capture_on_commit_callbacks(execute=True):
        case_retry(case=case)
    delay.assert_called_once()
    predictions_run(prediction_ids=delay.call_args.args[0])
    case.refresh_from_db()
    assert case.status == CaseStatus.PREDICTED and case.failure_reason == ""


def test_missing_model_file_fails_with_reason(
    brain_case, random_model, django_capture_on_commit_callbacks, mocker, tmp_path
):
    created, _ = _request(brain_case, django_capture_on_commit_callbacks, mocker)
    random_model.bundle_path = str(tmp_path / "gone")
    random_model.save()
    from inference import scoring

    scoring._predictors.clear()
    with pytest.raises(BundleError):
        predictions_run(prediction_ids=[created[0].pk])
    case = created[0].image.case
    case.refresh_from_db()
    assert case.status == CaseStatus.FAILED
    assert case.failure_reason.startswith(f"model {random_model} unusable:")


def test_sweeper_requeues_work_of_a_killed_worker(
    brain_case, random_model, django_capture_on_commit_callbacks, mocker, settings
):
    created, _ = _request(brain_case, django_capture_on_commit_callbacks, mocker)
    long_ago = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 120)
    Prediction.objects.filter(pk=created[0].pk).update(status=Prediction.Status.RUNNING, started_at=long_ago)
    send = mocker.patch("inference.sweep.current_app.send_task")
    with django_capture_on_commit_callbacks(execute=True):
        assert predictions_sweep() == 1
    send.assert_called_once_with("inference.tasks.run_predictions", args=[[created[0].pk]])
    assert Prediction.objects.get(pk=created[0].pk).status == Prediction.Status.QUEUED
    with django_capture_on_commit_callbacks(execute=True):
        assert predictions_sweep() == 0  # a fresh re-send is not sent again at once
    predictions_run(prediction_ids=[created[0].pk])
    assert Prediction.objects.get(pk=created[0].pk).status == Prediction.Status.DONE
    assert case_refresh_status(case_id=created[0].image.case_id) in (None, CaseStatus.PREDICTED)


def test_serving_tensor_equals_training_tensor(brain_case, random_model, data_dir):
    """The worker feeds the model exactly what the training code builds for the same image."""
    image = brain_case.first().images.get()
    spec = load_card(random_model.bundle_path).preprocessing
    served = preprocess(serving_array(image, spec), spec)
    # The training data file this image was uploaded from (same original bytes).
    source = next(
        p
        for p in (data_dir / "brain_mri" / "train" / "meningioma").glob("*.jpg")
        if hashlib.sha256(p.read_bytes()).hexdigest() == image.sha256
    )
    # What the training code's evaluation feeds the model for that file.
    dataset = CachedImageDataset(
        [{"abs_path": str(source), "path": source.name, "class": "meningioma"}], spec, BRAIN
    )
    trained = next(iter(BatchLoader(dataset, batch_size=1)))[0]
    trained = normalize_uint8(trained, spec)[0]
    assert served.dtype == trained.dtype and served.shape == trained.shape
    assert torch.equal(served, trained)


def test_ensemble_stores_every_member_and_their_disagreement(
    brain_case, random_model, tmp_path, django_capture_on_commit_callbacks, mocker
):
    from inference.services import model_version_activate, model_version_register
    from oncocore import registry

    second = tmp_path / "second"
    registry.make_random_bundle(second, task="brain_mri", class_names=BRAIN, input_size=64, seed=7)
    card = registry.load_card(second)
    # Same name as the first stand-in: give it its own version.
    (second / "model.json").write_text(
        (second / "model.json").read_text().replace(card.version, "0.0.1+untrained")
    )
    member, _ = model_version_register(bundle_dir=second, weight=0.5)
    model_version_activate(version=member)
    created, _ = _request(brain_case, django_capture_on_commit_callbacks, mocker)
    predictions_run(prediction_ids=[p.pk for p in created])
    for p in Prediction.objects.all():
        assert p.status == Prediction.Status.DONE
        assert p.model_version == random_model  # the lead: highest weight
        assert [m["version_id"] for m in p.members] == [random_model.pk, member.pk]
        assert [m["weight"] for m in p.members] == [1.0, 0.5]
        for m in p.members:
            assert abs(sum(m["probabilities"].values()) - 1) < 1e-4
        assert p.disagreement is not None and p.disagreement >= 0
        # The stored probabilities are the weighted mean of the members'.
        for name, value in p.probabilities.items():
            mean = (
                p.members[0]["probabilities"][name] * 1.0 + p.members[1]["probabilities"][name] * 0.5
            ) / 1.5
            assert abs(value - mean) < 1e-5


def test_broker_outage_keeps_the_upload_and_the_sweeper_sends_later(
    data_dir, site, radiologist, random_model, django_capture_on_commit_callbacks, mocker, settings
):
    from kombu.exceptions import OperationalError

    from cases.models import Task
    from cases.services.intake import intake_sources

    mocker.patch("inference.services.run_predictions.delay", side_effect=OperationalError("broker down"))
    path = sorted((data_dir / "brain_mri" / "train" / "glioma").glob("*.jpg"))[3]
    with django_capture_on_commit_callbacks(execute=True):
        report = intake_sources(
            uploads=[(path.name, path.read_bytes())],
            site=site,
            user=radiologist,
            source="web",
            task=Task.BRAIN_MRI,
        )
    assert len(report.accepted) == 1  # the upload stands
    prediction = Prediction.objects.get()
    assert prediction.status == Prediction.Status.QUEUED
    # Later the sweeper finds it queued too long and sends it again.
    Prediction.objects.filter(pk=prediction.pk).update(
        created_at=timezone.now() - timedelta(seconds=settings.PREDICTION_REQUEUE_AFTER + 5)
    )
    send = mocker.patch("inference.sweep.current_app.send_task")
    with django_capture_on_commit_callbacks(execute=True):
        assert predictions_sweep() == 1
    send.assert_called_once_with("inference.tasks.run_predictions", args=[[prediction.pk]])


def test_cases_are_refreshed_together_as_one_by_one(
    brain_case, random_model, django_capture_on_commit_callbacks, mocker, django_assert_max_num_queries
):
    created, _ = _request(brain_case, django_capture_on_commit_callbacks, mocker)
    predictions_run(prediction_ids=[p.pk for p in created])
    failed, done = created
    Prediction.objects.filter(pk=failed.pk).update(status=Prediction.Status.FAILED, error="boom")
    case_ids = [failed.image.case_id, done.image.case_id]
    Case.objects.filter(pk__in=case_ids).update(status=CaseStatus.PREDICTING)  # as during a run
    # Three reads for all the cases, then the summary and status writes of each.
    with django_assert_max_num_queries(3 + 2 * len(case_ids)):
        outcome = cases_refresh_status(case_ids=[*case_ids, 999_999])
    assert outcome == {failed.image.case_id: CaseStatus.FAILED, done.image.case_id: CaseStatus.PREDICTED}
    failed_case, done_case = (Case.objects.get(pk=pk) for pk in case_ids)
    assert failed_case.status == CaseStatus.FAILED and failed_case.failure_reason == "boom"
    assert done_case.status == CaseStatus.PREDICTED
    assert case_refresh_status(case_id=done.image.case_id) == CaseStatus.PREDICTED  # the one-case form agrees


def test_a_batch_is_written_by_one_prepared_update_with_every_result_column(
    brain_case, random_model, django_capture_on_commit_callbacks, mocker
):
    from inference.scoring import RESULT_COLUMNS

    created, _ = _request(brain_case, django_capture_on_commit_callbacks, mocker)
    with CaptureQueriesContext(connection) as queries:
        assert predictions_run(prediction_ids=[p.pk for p in created]) == 2
    updates = [q["sql"] for q in queries.captured_queries if 'UPDATE "inference_prediction"' in q["sql"]]
    # The claim, then the batch's results (one statement run for each row), not one update() per image.
    assert len(updates) == 2
    assert updates[1].startswith("2 times: ")
    spy = mocker.spy(pipeline_module, "result_columns")
    Prediction.objects.filter(pk=created[0].pk).update(status=Prediction.Status.QUEUED)
    predictions_run(prediction_ids=[created[0].pk])
    assert set(spy.spy_return) == set(RESULT_COLUMNS)  # bulk_update writes every column result_columns sets


def test_a_row_another_run_finished_meanwhile_is_not_written_again(
    brain_case, random_model, django_capture_on_commit_callbacks, mocker
):
    created, _ = _request(brain_case, django_capture_on_commit_callbacks, mocker)
    first = created[0]
    real = pipeline_module._store_map

    def finish_first_elsewhere(scored):
        # A second delivery finishes this row while the first run is between scoring and writing.
        Prediction.objects.filter(pk=first.pk).update(status=Prediction.Status.DONE, label="other run")
        return real(scored)

    mocker.patch.object(pipeline_module, "_store_map", side_effect=finish_first_elsewhere)
    assert predictions_run(prediction_ids=[p.pk for p in created]) == 1
    assert Prediction.objects.get(pk=first.pk).label == "other run"
    assert Prediction.objects.get(pk=created[1].pk).status == Prediction.Status.DONE
