"""Asking for an evaluation: the champion frozen, the run queued on commit, and every refusal with its reason."""

from __future__ import annotations

import pytest

from cases.models import AuditEvent, AuditSource
from cases.services.audit import AuditContext
from lifecycle.models import Evaluation, RunStatus
from lifecycle.services.evaluations import evaluation_request
from oncoportal import celery_config
from oncoportal.exceptions import InvalidInput

pytestmark = pytest.mark.django_db
AUDIT = AuditContext.system(source=AuditSource.CLI)


@pytest.fixture
def send(mocker):
    return mocker.patch("lifecycle.services.evaluations.current_app.send_task")


def test_freezes_the_active_ensemble_and_queues_the_run_on_commit(
    snapshot, champion, candidate, send, django_capture_on_commit_callbacks
):
    from inference.services import model_version_set_weight

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        evaluation = evaluation_request(candidate=candidate, audit=AUDIT)
    send.assert_not_called()  # only after the commit
    for callback in callbacks:
        callback()
    send.assert_called_once_with(celery_config.RUN_EVALUATION, args=[evaluation.pk])
    evaluation.refresh_from_db()
    assert evaluation.status == RunStatus.QUEUED
    assert (evaluation.snapshot, evaluation.split, evaluation.task) == (snapshot, "test", "brain_mri")
    assert evaluation.champion == champion
    assert evaluation.champion_members == [
        {"version_id": champion.pk, "version": str(champion), "weight": champion.weight}
    ]
    event = AuditEvent.objects.get(action="evaluation.requested")
    assert event.detail["candidate"] == str(candidate) and event.detail["champion"] == [str(champion)]
    # A later change of the ensemble does not change what this evaluation compares.
    model_version_set_weight(version=champion, weight=3.0)
    evaluation.refresh_from_db()
    assert evaluation.champion_members[0]["weight"] == 1.0


def test_the_snapshot_defaults_to_the_candidates_training_snapshot(snapshot, champion, candidate, send):
    from curation.services.snapshots import snapshot_freeze
    from retraining.models import TrainingJob

    newest = snapshot_freeze(task="brain_mri", seed=1, val_fraction=0.25, test_fraction=0.25, audit=AUDIT)
    assert newest.version > snapshot.version
    # No training job: the task's newest snapshot.
    assert evaluation_request(candidate=candidate, audit=AUDIT).snapshot == newest
    TrainingJob.objects.create(snapshot=snapshot, task="brain_mri", recipe="smoke", result_version=candidate)
    candidate.refresh_from_db()
    assert evaluation_request(candidate=candidate, audit=AUDIT).snapshot == snapshot


def test_without_an_active_model_the_candidate_is_evaluated_alone(snapshot, candidate, send):
    evaluation = evaluation_request(candidate=candidate, audit=AUDIT)
    assert evaluation.champion is None and evaluation.champion_members == []


def test_a_champion_with_other_classes_is_not_compared_and_the_page_says_why(
    snapshot, champion, candidate, send
):
    from inference.models import ModelVersion

    # A champion registered before the task's classes changed (registration refuses such a card now).
    ModelVersion.objects.filter(pk=champion.pk).update(class_names=["glioma", "meningioma", "notumor"])
    evaluation = evaluation_request(candidate=candidate, audit=AUDIT)
    assert evaluation.champion is None and evaluation.champion_members == []
    note = evaluation.results["notes"][0]
    assert "has other classes than snapshot brain_mri-v1" in note and str(champion) in note


def test_refusals_say_why_and_store_nothing(snapshot, champion, candidate, send, tmp_path, make_case, site):
    from curation.models import Snapshot
    from inference.services import model_version_register
    from oncocore import registry

    def refused(message: str, **kwargs) -> None:
        with pytest.raises(InvalidInput, match=message):
            evaluation_request(audit=AUDIT, **kwargs)

    refused("already active for brain_mri", candidate=champion, snapshot=snapshot)
    refused("unknown split 'holdout'", candidate=candidate, snapshot=snapshot, split="holdout")

    lung = tmp_path / "lung"
    registry.make_random_bundle(
        lung, task="lung_ct", class_names=["benign", "malignant", "normal"], input_size=32
    )
    lung_version, _ = model_version_register(bundle_dir=lung)
    refused("there is no snapshot of lung_ct", candidate=lung_version)
    refused(
        "is a lung_ct model; snapshot brain_mri-v1 is brain_mri", candidate=lung_version, snapshot=snapshot
    )

    three_classes = Snapshot.objects.create(
        task="brain_mri",
        version=8,
        name="brain_mri-v8",
        content_hash="2" * 64,
        class_names=["glioma", "meningioma", "notumor"],
        manifest="snapshots/brain_mri-v8/manifest.csv",
    )
    refused(
        "has the classes glioma, meningioma, notumor, pituitary; snapshot brain_mri-v8 has glioma, meningioma, notumor",
        candidate=candidate,
        snapshot=three_classes,
    )

    no_test = Snapshot.objects.create(
        task="brain_mri",
        version=9,
        name="brain_mri-v9",
        content_hash="1" * 64,
        class_names=snapshot.class_names,
        manifest="snapshots/brain_mri-v9/manifest.csv",
    )
    refused("snapshot brain_mri-v9 has no test images", candidate=candidate, snapshot=no_test)
    assert not Evaluation.objects.exists()
    assert not AuditEvent.objects.filter(action="evaluation.requested").exists()
    send.assert_not_called()
