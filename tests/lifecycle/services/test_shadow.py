"""Shadow runs in-process: start/stop rules, the hook on a finished clinical prediction, the run, the sweeper."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from cases.models import AuditEvent, AuditSource, Case
from cases.services.events import PREDICTION_COMPLETED
from cases.signals import case_event
from inference.models import ModelVersion, Prediction
from inference.pipeline import predictions_run
from inference.services import model_version_activate, model_version_retire, prediction_request
from lifecycle.models import ShadowDeployment, ShadowPrediction
from lifecycle.services.shadow import (
    RUN_TASK,
    shadow_predictions_queue,
    shadow_predictions_run,
    shadow_start,
    shadow_stop,
    shadow_sweep,
    shadows_stop_for,
)
from oncoportal.exceptions import InvalidInput, TransitionNotAllowed
from tests.lifecycle.conftest import CANDIDATE_LABEL, CHAMPION_LABEL

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(mocker) -> list[list[int]]:
    """The id lists sent to the shadow task (after commit), instead of a broker."""
    calls: list[list[int]] = []
    app = mocker.patch("lifecycle.services.shadow.current_app")
    app.send_task.side_effect = lambda name, args: calls.append(args[0]) if name == RUN_TASK else None
    return calls


def predict(cases, capture, mocker) -> None:
    """The clinical prediction of each case in this process, its on-commit work (the hook) run."""
    mocker.patch("inference.services.run_predictions.delay")
    ids = []
    for case in cases:
        with capture(execute=True):
            ids += [p.pk for p in prediction_request(case=case)]
    with capture(execute=True):
        predictions_run(prediction_ids=ids)


# --- Start and stop ------------------------------------------------------------------------
def test_start_records_a_running_deployment_and_audits_it(random_model, candidate, curator, curator_audit):
    deployment = shadow_start(candidate=candidate, audit=curator_audit, note="  May retrain  ")
    assert deployment.running and deployment.task == "brain_mri" and deployment.note == "May retrain"
    assert deployment.started_by == curator
    event = AuditEvent.objects.get(action="shadow.started")
    assert event.object_id == str(deployment.pk) and event.detail["candidate"] == str(candidate)
    assert event.actor == curator and event.source == AuditSource.WEB


def test_start_refuses_what_is_not_a_registered_candidate_of_a_task_with_a_champion(
    random_model, candidate, curator_audit
):
    with pytest.raises(TransitionNotAllowed, match="is active"):
        shadow_start(candidate=random_model, audit=curator_audit)
    shadow_start(candidate=candidate, audit=curator_audit)
    with pytest.raises(TransitionNotAllowed, match="already runs in shadow"):
        shadow_start(candidate=candidate, audit=curator_audit)
    assert ShadowDeployment.objects.count() == 1  # nothing half-stored
    model_version_retire(version=random_model)
    other = ModelVersion.objects.create(
        name="x", version="1", task="brain_mri", arch="tinycnn", bundle_path="/nowhere",
        weights_sha256="0" * 64, class_names=["a", "b"], card={},
    )  # fmt: skip
    with pytest.raises(InvalidInput, match="no active model"):
        shadow_start(candidate=other, audit=curator_audit)
    model_version_retire(version=other)
    with pytest.raises(TransitionNotAllowed, match="retired"):
        shadow_start(candidate=other, audit=curator_audit)
    assert AuditEvent.objects.filter(action="shadow.started").count() == 1


def test_stop_is_idempotent_and_a_stopped_candidate_may_run_again(random_model, candidate, curator_audit):
    deployment = shadow_start(candidate=candidate, audit=curator_audit)
    shadow_stop(deployment=deployment, audit=curator_audit)
    first_stop = deployment.stopped_at
    shadow_stop(deployment=deployment, audit=curator_audit)
    assert deployment.stopped_at == first_stop and not deployment.running
    assert AuditEvent.objects.filter(action="shadow.stopped").count() == 1
    again = shadow_start(candidate=candidate, audit=curator_audit)
    assert again.running and again.pk != deployment.pk


def test_shadows_stop_for_a_promoted_version(random_model, candidate, curator_audit):
    deployment = shadow_start(candidate=candidate, audit=curator_audit)
    stopped = shadows_stop_for(version=candidate, audit=curator_audit)
    assert [d.pk for d in stopped] == [deployment.pk] and not stopped[0].running
    assert shadows_stop_for(version=candidate, audit=curator_audit) == []


# --- The hook and the run ------------------------------------------------------------------
def test_a_finished_clinical_prediction_queues_and_the_run_stores_a_hidden_result(
    brain_case, random_model, candidate, curator_audit, sent, django_capture_on_commit_callbacks, mocker
):
    deployment = shadow_start(candidate=candidate, audit=curator_audit)
    cases = list(brain_case)
    audit_before = AuditEvent.objects.count()
    predict(cases, django_capture_on_commit_callbacks, mocker)
    rows = list(ShadowPrediction.objects.order_by("pk"))
    assert sorted(r.image.case_id for r in rows) == sorted(c.pk for c in cases)
    assert {r.status for r in rows} == {ShadowPrediction.Status.QUEUED}
    assert {r.deployment_id for r in rows} == {deployment.pk} and {r.model_version for r in rows} == {
        candidate
    }
    assert len(sent) == 2 and sorted(pk for ids in sent for pk in ids) == [r.pk for r in rows]  # one a case
    clinical_audit = AuditEvent.objects.count() - audit_before
    statuses = {c.pk: (c.status, c.ai_label, c.updated_at) for c in Case.objects.filter(pk__in=brain_case)}

    assert shadow_predictions_run(shadow_prediction_ids=[r.pk for r in rows]) == 2
    assert shadow_predictions_run(shadow_prediction_ids=[r.pk for r in rows]) == 0  # a second delivery
    for row in ShadowPrediction.objects.all():
        clinical = Prediction.objects.get(image=row.image)
        assert row.status == ShadowPrediction.Status.DONE and row.attempts == 1
        assert (row.label, clinical.label) == (CANDIDATE_LABEL, CHAMPION_LABEL)
        assert set(row.probabilities) == set(candidate.class_names) and row.untrained
        assert [m["version"] for m in row.members] == [str(candidate)]
        assert row.saliency_raw.name == f"shadow/{row.pk}/cam.png" and default_storage.exists(
            row.saliency_raw.name
        )
        assert row.saliency_geometry and row.frame == row.image.key_frame and row.finished_at
    # Nothing a reader sees moved: no status, no summary, no case-history entry.
    assert {
        c.pk: (c.status, c.ai_label, c.updated_at) for c in Case.objects.filter(pk__in=brain_case)
    } == statuses
    assert AuditEvent.objects.count() - audit_before == clinical_audit


def test_the_hook_skips_other_tasks_stopped_runs_and_promoted_candidates_and_adds_nothing_twice(
    brain_case, random_model, candidate, curator_audit, sent, django_capture_on_commit_callbacks, mocker
):
    case = brain_case.first()
    deployment = shadow_start(candidate=candidate, audit=curator_audit)
    predict([case], django_capture_on_commit_callbacks, mocker)
    assert ShadowPrediction.objects.count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        again = shadow_predictions_queue(case_id=case.pk)  # the event delivered twice
    assert ShadowPrediction.objects.count() == 1 and again == [ShadowPrediction.objects.get().pk]
    shadow_stop(deployment=deployment, audit=curator_audit)
    ShadowPrediction.objects.all().delete()
    assert shadow_predictions_queue(case_id=case.pk) == []
    shadow_start(candidate=candidate, audit=curator_audit)
    model_version_activate(version=candidate)  # activated by another way, its shadow not stopped
    assert shadow_predictions_queue(case_id=case.pk) == []
    Case.objects.filter(pk=case.pk).update(task="lung_ct")
    assert shadow_predictions_queue(case_id=case.pk) == []
    assert not ShadowPrediction.objects.exists()


def test_the_receiver_never_raises(brain_case, mocker, caplog):
    mocker.patch("lifecycle.receivers.shadow_predictions_queue", side_effect=RuntimeError("broker down"))
    case_event.send(sender=Case, event=PREDICTION_COMPLETED, case_id=brain_case.first().pk, detail={})
    assert "could not queue the shadow predictions" in caplog.text


def test_a_missing_file_fails_the_row_with_its_reason(
    brain_case, random_model, candidate, curator_audit, sent, django_capture_on_commit_callbacks, mocker
):
    shadow_start(candidate=candidate, audit=curator_audit)
    predict([brain_case.first()], django_capture_on_commit_callbacks, mocker)
    row = ShadowPrediction.objects.get()
    default_storage.delete(row.image.file.name)
    assert shadow_predictions_run(shadow_prediction_ids=[row.pk]) == 0
    row.refresh_from_db()
    assert row.status == ShadowPrediction.Status.FAILED and row.error.startswith("stored file missing")


def test_the_sweeper_resends_lost_messages_and_dead_runs(
    make_case,
    site,
    random_model,
    candidate,
    curator_audit,
    sent,
    settings,
    django_capture_on_commit_callbacks,
):
    deployment = shadow_start(candidate=candidate, audit=curator_audit)
    images = make_case(site, images=3, task="brain_mri").images.order_by("pk")
    lost, dead, fresh = (
        ShadowPrediction.objects.create(deployment=deployment, image=image, model_version=candidate)
        for image in images
    )
    long_ago = timezone.now() - timedelta(seconds=settings.PREDICTION_REQUEUE_AFTER + 5)
    ShadowPrediction.objects.filter(pk=lost.pk).update(created_at=long_ago)
    ShadowPrediction.objects.filter(pk=dead.pk).update(
        status=ShadowPrediction.Status.RUNNING, started_at=timezone.now() - timedelta(hours=2)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert shadow_sweep() == 2
    assert [sorted(ids) for ids in sent] == [sorted([lost.pk, dead.pk])]
    assert ShadowPrediction.objects.get(pk=dead.pk).status == ShadowPrediction.Status.QUEUED
    assert ShadowPrediction.objects.get(pk=fresh.pk).started_at is None
    with django_capture_on_commit_callbacks(execute=True):
        assert shadow_sweep() == 0  # just re-sent: not again on the next sweep
