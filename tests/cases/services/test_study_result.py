"""The case's study result: the one rule (oncocore.study_result) applied to a real multi-image study."""

from __future__ import annotations

import pytest

from cases.models import Case
from cases.selectors import case_series
from cases.services.case import (
    ai_summary,
    case_study_finding,
    image_outcomes,
    images_in_study_order,
    study_order_key,
)
from tests.conftest import MR_STUDY_PROBABILITIES, MR_STUDY_RANKING

pytestmark = pytest.mark.django_db


def test_the_pipeline_stores_the_most_suspicious_images_result_as_the_case_summary(mr_study_predicted):
    case, images = mr_study_predicted
    assert case.status == "predicted"
    assert (case.ai_label, case.ai_confidence, case.ai_positive) == ("glioma", 0.91, True)
    assert case.ai_probabilities == MR_STUDY_PROBABILITIES[5]  # that image's, not an average
    assert case.ai_key_image_id == images[5].pk and case.ai_images == 7
    assert case.ai_uncertainty == pytest.approx(0.7)  # the highest of any image (instance 7)
    assert case.ai_untrained is True


def test_the_page_ranks_the_stored_predictions_by_the_same_rule(mr_study_predicted):
    case, images = mr_study_predicted
    loaded = images_in_study_order(image for s in case_series(case=case) for image in s.images.all())
    assert [i.instance_number for i in loaded] == [1, 2, 3, 4, 5, 6, 7]
    finding = case_study_finding(task=case.task, outcomes=image_outcomes(task=case.task, images=loaded))
    by_id = {image.pk: number for number, image in images.items()}
    assert [by_id[i] for i in finding.ranked_image_ids] == MR_STUDY_RANKING
    assert finding.key_image_id == case.ai_key_image_id and finding.probabilities == case.ai_probabilities


def _version(model, *, name, version, task):
    return model.objects.create(
        name=name, version=version, task=task, arch="tiny", bundle_path="/nowhere",
        weights_sha256="0" * 64, class_names=[], card={},
    )  # fmt: skip


def test_the_newest_prediction_of_the_cases_task_counts(mr_study_predicted, random_model):
    from django.utils import timezone

    from inference.case_status import case_refresh_ai_summary
    from inference.models import ModelVersion, Prediction

    case, images = mr_study_predicted
    # A newer result for instance 5 says normal: instance 3 becomes the key image.
    newer = _version(ModelVersion, name="brain-tiny", version="2", task=random_model.task)
    normal = {"glioma": 0.05, "meningioma": 0.0, "notumor": 0.95, "pituitary": 0.0}
    Prediction.objects.create(
        image=images[5], model_version=newer, status="done", label="notumor", confidence=0.95,
        probabilities=normal, finished_at=timezone.now(),
    )  # fmt: skip
    # Another task's result on instance 1 does not count, however sure it is.
    lung = _version(ModelVersion, name="lung", version="1", task="lung_ct")
    Prediction.objects.create(
        image=images[1], model_version=lung, status="done", label="malignant", confidence=0.99,
        probabilities={"malignant": 0.99, "benign": 0.01}, finished_at=timezone.now(),
    )  # fmt: skip
    case_refresh_ai_summary(case_id=case.pk)
    case.refresh_from_db()
    assert (case.ai_label, case.ai_confidence, case.ai_key_image_id) == ("glioma", 0.62, images[3].pk)
    assert case.ai_probabilities == MR_STUDY_PROBABILITIES[3]


def test_a_task_change_empties_the_study_result(mr_study_predicted, radiologist):
    from cases.services.case import case_change_task

    case, _ = mr_study_predicted
    case_change_task(case=case, task="lung_ct", user=radiologist)
    from inference.case_status import case_refresh_ai_summary

    case_refresh_ai_summary(case_id=case.pk)
    case.refresh_from_db()
    assert (case.ai_label, case.ai_probabilities, case.ai_key_image_id, case.ai_images) == ("", {}, None, 0)


def test_deleting_the_key_image_leaves_the_case(mr_study_predicted):
    case, images = mr_study_predicted
    images[5].delete()
    assert Case.objects.get(pk=case.pk).ai_key_image_id is None


def test_study_order_numbers_first_then_unnumbered():
    def key(series_number, series_id, instance_number, image_id):
        return study_order_key(
            series_number=series_number,
            series_id=series_id,
            instance_number=instance_number,
            image_id=image_id,
        )

    places = [key(2, 1, 1, 9), key(None, 0, 1, 1), key(1, 5, None, 2), key(1, 5, 3, 7), key(1, 5, 3, 4)]
    assert sorted(places) == [
        key(1, 5, 3, 4),
        key(1, 5, 3, 7),
        key(1, 5, None, 2),
        key(2, 1, 1, 9),
        key(None, 0, 1, 1),
    ]


def test_an_empty_summary_needs_no_registry(django_assert_num_queries):
    with django_assert_num_queries(0):
        summary = ai_summary(task="no-such-task", results=[])
    assert summary["ai_key_image"] is None and summary["ai_images"] == 0


def test_the_migration_backfills_existing_cases_by_the_same_rule(mr_study_predicted):
    import importlib

    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    case, images = mr_study_predicted
    Case.objects.filter(pk=case.pk).update(ai_label="", ai_probabilities={}, ai_key_image=None, ai_images=0)
    backfill = importlib.import_module("cases.migrations.0008_case_study_result").backfill_study_result
    state = MigrationExecutor(connection).loader.project_state(("cases", "0008_case_study_result"))
    backfill(state.apps, None)
    case.refresh_from_db()
    assert (case.ai_label, case.ai_key_image_id, case.ai_images) == ("glioma", images[5].pk, 7)
    assert case.ai_probabilities == MR_STUDY_PROBABILITIES[5]


def test_the_one_case_form_writes_the_same_summary(mr_study_predicted):
    from cases.services.case import case_set_ai_summary

    case, images = mr_study_predicted
    Case.objects.filter(pk=case.pk).update(ai_label="", ai_probabilities={}, ai_key_image=None, ai_images=0)
    loaded = images_in_study_order(image for s in case_series(case=case) for image in s.images.all())
    case_set_ai_summary(
        case_id=case.pk, task=case.task, results=image_outcomes(task=case.task, images=loaded)
    )
    case.refresh_from_db()
    assert (case.ai_label, case.ai_key_image_id, case.ai_images) == ("glioma", images[5].pk, 7)
    assert case.ai_probabilities == MR_STUDY_PROBABILITIES[5]
