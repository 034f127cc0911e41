"""Running an evaluation in this process: the stored results on a real snapshot, the claim, failure, the sweep."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from cases.models import AuditSource
from cases.services.audit import AuditContext
from lifecycle.models import Evaluation, RunStatus
from lifecycle.selectors_evaluations import evaluation_latest_done
from lifecycle.services.evaluations import evaluation_request, evaluation_run, evaluations_sweep
from oncocore.stats import mcnemar_from_correct
from oncoportal import celery_config

pytestmark = pytest.mark.django_db
AUDIT = AuditContext.system(source=AuditSource.CLI)


@pytest.fixture
def send(mocker):
    return mocker.patch("lifecycle.services.evaluations.current_app.send_task")


@pytest.fixture
def requested(snapshot, champion, candidate, send):
    return evaluation_request(candidate=candidate, snapshot=snapshot, audit=AUDIT)


def test_both_sides_scored_on_the_same_test_images_in_the_shared_schema(
    requested, snapshot, champion, candidate
):
    from curation.models import SnapshotItem

    assert evaluation_run(evaluation_id=requested.pk) == RunStatus.DONE
    evaluation = Evaluation.objects.get(pk=requested.pk)
    assert evaluation.status == RunStatus.DONE and evaluation.error == ""
    assert evaluation.started_at and evaluation.finished_at
    results = evaluation.results
    test_items = list(SnapshotItem.objects.filter(snapshot=snapshot, split="test").order_by("pk"))
    assert results["n"] == len(test_items) == 4 and results["split"] == "test"
    assert results["class_names"] == snapshot.class_names
    assert results["sides"]["candidate"]["label"] == str(candidate)
    assert results["sides"]["champion"]["label"] == str(champion)
    assert [i["image_id"] for i in results["items"]] == [item.image_id for item in test_items]
    assert [i["target"] for i in results["items"]] == [item.label for item in test_items]
    for side in ("candidate", "champion"):
        metrics = results["sides"][side]["metrics"]
        for key in ("accuracy", "macro_f1", "macro_auc", "ece", "confusion_matrix", "per_class"):
            assert key in metrics
        assert set(metrics["per_class"]["glioma"]) >= {"precision", "recall", "f1", "support", "auc"}
        assert {"sensitivity", "specificity"} <= set(metrics["per_class"]["glioma"])
        assert np.asarray(metrics["confusion_matrix"]).sum() == 4
        for item in results["items"]:
            assert len(item[side]) == 4 and sum(item[side]) == pytest.approx(1.0, abs=1e-4)
    # The paired counts follow from the stored per-image rows.
    index = {name: i for i, name in enumerate(results["class_names"])}
    target = [index[i["target"]] for i in results["items"]]
    right = {
        side: [int(np.argmax(i[side])) == t for i, t in zip(results["items"], target, strict=True)]
        for side in ("champion", "candidate")
    }
    expected = mcnemar_from_correct(right["champion"], right["candidate"])
    paired = results["paired"]
    assert (paired["b"], paired["c"], paired["p_value"]) == (expected.b, expected.c, expected.p_value)
    assert paired["b_means"] == "champion right, candidate wrong"
    assert results["skipped"] == []
    # The snapshot's images were stored as labelled cases (not base data): nothing the champion saw.
    assert results["fairness"]["base_items"] == 0
    assert any("random weights (untrained)" in note for note in results["notes"])
    # The promote gate's read.
    assert evaluation_latest_done(candidate=candidate) == evaluation
    assert evaluation_latest_done(candidate=candidate, champion_members=[champion]) == evaluation
    assert evaluation_latest_done(candidate=candidate, champion_members=[]) is None


def test_a_second_delivery_changes_nothing(requested):
    assert evaluation_run(evaluation_id=requested.pk) == RunStatus.DONE
    first = Evaluation.objects.get(pk=requested.pk)
    assert evaluation_run(evaluation_id=requested.pk) == RunStatus.DONE
    again = Evaluation.objects.get(pk=requested.pk)
    assert (again.finished_at, again.results) == (first.finished_at, first.results)


def test_an_unusable_model_ends_failed_with_a_one_line_reason(requested, candidate, tmp_path):
    from inference.models import ModelVersion

    ModelVersion.objects.filter(pk=candidate.pk).update(bundle_path=str(tmp_path / "gone"))
    assert evaluation_run(evaluation_id=requested.pk) == RunStatus.FAILED
    evaluation = Evaluation.objects.get(pk=requested.pk)
    assert evaluation.status == RunStatus.FAILED and evaluation.finished_at is not None
    assert evaluation.error and "\n" not in evaluation.error and "gone" in evaluation.error
    assert evaluation_latest_done(candidate=candidate) is None


def test_base_data_the_champion_may_have_seen_is_counted_in_the_notes(snapshot, champion, candidate):
    from curation.models import Provenance, SnapshotItem
    from lifecycle.services.evaluation_scoring import fairness

    items = [
        SnapshotItem(image_id=item.image_id, label=item.label, provenance=provenance)
        for item, provenance in zip(
            snapshot.items.filter(split="test").order_by("pk"),
            [Provenance.BASE, Provenance.BASE, Provenance.CORRECTED, Provenance.LABELLED],
            strict=True,
        )
    ]
    out = fairness(items=items, candidate=candidate, champion=[champion], split="test")
    assert out["base_items"] == 2
    [note] = [n for n in out["notes"] if "public data folder" in n]
    assert note.startswith(f"The champion {champion} was trained on the public data folder: 2 of the 4 test")
    champion_row = next(m for m in out["models"] if m["side"] == "champion")
    assert champion_row["data_folder"] is True and champion_row["overlap"] == 0
    candidate_row = next(m for m in out["models"] if m["side"] == "candidate")
    assert candidate_row["data_folder"] is False  # random weights: trained on nothing


def test_images_in_the_training_split_of_the_candidates_snapshot_are_counted(snapshot, champion, candidate):
    from curation.models import SnapshotItem
    from curation.services.snapshots import snapshot_freeze
    from lifecycle.services.evaluation_scoring import fairness
    from retraining.models import TrainingJob

    TrainingJob.objects.create(snapshot=snapshot, task="brain_mri", recipe="smoke", result_version=candidate)
    candidate.refresh_from_db()
    other = snapshot_freeze(task="brain_mri", seed=7, val_fraction=0.25, test_fraction=0.25, audit=AUDIT)
    items = list(other.items.filter(split="test"))
    seen = set(
        SnapshotItem.objects.filter(snapshot=snapshot, split__in=["train", "val"]).values_list(
            "image_id", flat=True
        )
    )
    overlap = sum(item.image_id in seen for item in items)
    assert overlap > 0  # seed 7 puts some of v1's training images into v2's test split
    out = fairness(items=items, candidate=candidate, champion=[champion], split="test")
    row = next(m for m in out["models"] if m["side"] == "candidate")
    assert row["overlap"] == overlap
    assert any(
        n.startswith(f"{overlap} of the {len(items)} test images were in the training or validation split")
        for n in out["notes"]
    )


def test_the_sweep_resends_lost_runs_once_per_period(
    requested, send, settings, django_capture_on_commit_callbacks
):
    now = timezone.now()
    fresh = Evaluation.objects.get(pk=requested.pk)
    assert evaluations_sweep(now=now) == 0  # just queued: its message is on its way
    later = now + timedelta(seconds=settings.PREDICTION_REQUEUE_AFTER + 1)
    send.reset_mock()
    with django_capture_on_commit_callbacks(execute=True):
        assert evaluations_sweep(now=later) == 1
    send.assert_called_once_with(celery_config.RUN_EVALUATION, args=[fresh.pk])
    assert Evaluation.objects.get(pk=fresh.pk).started_at == later  # marks the re-send
    assert evaluations_sweep(now=later) == 0
    # A run whose worker died: RUNNING past the task's hard limit goes back to QUEUED and is sent again.
    started = later + timedelta(seconds=5)
    Evaluation.objects.filter(pk=fresh.pk).update(status=RunStatus.RUNNING, started_at=started)
    assert evaluations_sweep(now=started + timedelta(seconds=60)) == 0
    dead = started + timedelta(seconds=celery_config.lost_after_s(celery_config.RUN_EVALUATION) + 1)
    assert evaluations_sweep(now=dead) == 1
    assert Evaluation.objects.get(pk=fresh.pk).status == RunStatus.QUEUED
    Evaluation.objects.filter(pk=fresh.pk).update(status=RunStatus.DONE)
    assert evaluations_sweep(now=dead + timedelta(days=1)) == 0
