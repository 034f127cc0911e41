"""Promote through the gate and roll back: refusals with their reasons, the switch, the changes and the audit."""

from __future__ import annotations

import pytest

from cases.models import AuditEvent, AuditSource
from cases.services.audit import AuditContext
from inference.models import ModelVersion
from inference.selectors import active_ensemble
from inference.services import ensemble_activate, model_version_retire
from lifecycle.models import ModelChange, RunStatus, ShadowDeployment
from lifecycle.services.promotion import GateRefused, model_promote, model_rollback, model_rollback_to
from oncoportal.exceptions import TransitionNotAllowed
from tests.lifecycle.conftest import metrics

pytestmark = pytest.mark.django_db


@pytest.fixture
def audit(curator):
    return AuditContext.system(source=AuditSource.CLI, actor=curator)


def _nothing_changed(champion, candidate):
    assert [v.pk for v in active_ensemble(task="brain_mri")] == [champion.pk]
    candidate.refresh_from_db()
    assert candidate.status == ModelVersion.Status.REGISTERED
    assert not ModelChange.objects.exists()
    assert not AuditEvent.objects.filter(action="model.promoted").exists()


def test_refuses_a_candidate_with_no_evaluation(random_model, candidate, audit):
    with pytest.raises(TransitionNotAllowed) as refused:
        model_promote(candidate=candidate, audit=audit)
    assert refused.value.message == (
        f"{candidate.label}: it has no finished evaluation; evaluate it against the current champion first"
    )
    _nothing_changed(random_model, candidate)


def test_refuses_an_evaluation_against_another_champion(random_model, candidate, audit, make_evaluation):
    stale = make_evaluation(
        candidate, members=[{"version_id": random_model.pk, "version": "x", "weight": 2.0}]
    )
    with pytest.raises(TransitionNotAllowed) as refused:
        model_promote(candidate=candidate, audit=audit)
    assert refused.value.message == (
        f"{candidate.label}: evaluation {stale.pk} compared it against another ensemble; "
        "evaluate it against the current champion first"
    )
    with pytest.raises(TransitionNotAllowed, match="against another ensemble"):
        model_promote(candidate=candidate, audit=audit, evaluation=stale)
    _nothing_changed(random_model, candidate)


def test_refuses_an_evaluation_not_done_or_of_another_version(
    random_model, candidate, audit, make_evaluation
):
    queued = make_evaluation(candidate, status=RunStatus.QUEUED)
    with pytest.raises(TransitionNotAllowed, match=f"evaluation {queued.pk} is queued, not done"):
        model_promote(candidate=candidate, audit=audit, evaluation=queued)
    of_another = make_evaluation(random_model)
    with pytest.raises(TransitionNotAllowed, match=f"evaluation {of_another.pk} is not of"):
        model_promote(candidate=candidate, audit=audit, evaluation=of_another)
    _nothing_changed(random_model, candidate)


def test_the_gate_refuses_a_worse_candidate_and_says_why(random_model, candidate, audit, make_evaluation):
    make_evaluation(
        candidate, champion=metrics(0.80, glioma=0.90), challenger=metrics(0.75, glioma=0.80, pituitary=0.89)
    )
    with pytest.raises(GateRefused) as refused:
        model_promote(candidate=candidate, audit=audit)
    assert refused.value.message == (
        f"the gate refused {candidate.label}: "
        "Macro-F1 0.750 is 0.050 below the champion's 0.800 (margin 0.020); "
        "Sensitivity of Glioma 0.800 is 0.100 below the champion's 0.900 (margin 0.020)"
    )
    failed = [c["name"] for c in refused.value.gate["checks"] if not c["passed"]]
    assert failed == ["macro_f1", "sensitivity:glioma"]  # pituitary 0.89 is within the margin
    _nothing_changed(random_model, candidate)


def test_the_margins_come_from_settings(random_model, candidate, audit, make_evaluation, settings):
    make_evaluation(candidate, champion=metrics(0.80), challenger=metrics(0.75))
    with pytest.raises(GateRefused):
        model_promote(candidate=candidate, audit=audit)
    settings.PROMOTE_MARGIN_MACRO_F1 = 0.06
    change = model_promote(candidate=candidate, audit=audit)
    assert change.gate["margins"]["macro_f1"] == 0.06


def test_promotes_through_the_gate(random_model, candidate, audit, make_evaluation, curator):
    evaluation = make_evaluation(candidate, champion=metrics(0.80), challenger=metrics(0.79, glioma=0.95))
    shadow = ShadowDeployment.objects.create(task="brain_mri", candidate=candidate)
    change = model_promote(candidate=candidate, audit=audit, reason="better on glioma")

    assert active_ensemble(task="brain_mri") == [candidate]
    random_model.refresh_from_db()
    assert random_model.status == ModelVersion.Status.RETIRED
    assert change.kind == ModelChange.Kind.PROMOTE and change.version == candidate
    assert change.before == [{"version_id": random_model.pk, "version": str(random_model), "weight": 1.0}]
    assert change.after == [{"version_id": candidate.pk, "version": str(candidate), "weight": 1.0}]
    assert change.evaluation == evaluation and change.actor == curator and change.reason == "better on glioma"
    assert change.gate["passed"] is True and change.gate["evaluation"] == evaluation.pk
    assert len(change.gate["checks"]) == 4  # macro-F1 and the three tumour classes
    shadow.refresh_from_db()
    assert shadow.stopped_at is not None and shadow.stopped_by == curator

    event = AuditEvent.objects.get(action="model.promoted")
    assert event.object_id == str(candidate.pk) and event.source == AuditSource.CLI and event.actor == curator
    assert event.detail["change"] == change.pk and event.detail["gate"]["passed"] is True
    assert event.detail["gate"]["checks"][0]["champion"] == 0.80
    assert event.detail["gate"]["checks"][0]["candidate"] == 0.79


def test_a_task_with_no_champion_promotes_without_a_gate(random_model, candidate, audit):
    model_version_retire(version=random_model)
    change = model_promote(candidate=candidate, audit=audit)
    assert active_ensemble(task="brain_mri") == [candidate]
    assert change.before == [] and change.evaluation is None
    assert change.gate == {"passed": True, "skipped": True, "summary": "no champion: promoted without a gate"}


def test_the_champion_cannot_be_promoted_again(random_model, audit):
    with pytest.raises(TransitionNotAllowed, match="already the champion"):
        model_promote(candidate=random_model, audit=audit)


def test_roll_back_restores_the_ensemble_with_its_weights(random_model, candidate, audit, make_evaluation):
    ensemble_activate(members=[(random_model, 2.0), (candidate, 0.5)])
    make_evaluation(candidate)
    promoted = model_promote(candidate=candidate, audit=audit)
    assert active_ensemble(task="brain_mri") == [candidate]

    back = model_rollback(change=promoted, audit=audit, reason="readers disagree")
    assert [(v.pk, v.weight) for v in active_ensemble(task="brain_mri")] == [
        (random_model.pk, 2.0),
        (candidate.pk, 0.5),
    ]
    assert back.kind == ModelChange.Kind.ROLLBACK and back.version == random_model
    assert back.before == promoted.after and back.after == promoted.before
    assert back.gate["undoes_change"] == promoted.pk
    event = AuditEvent.objects.get(action="model.rolled_back")
    assert event.object_id == str(random_model.pk)
    assert event.detail["undoes_change"] == promoted.pk and event.detail["reason"] == "readers disagree"

    with pytest.raises(TransitionNotAllowed, match="already the active one"):
        model_rollback(change=promoted, audit=audit)


def test_roll_back_needs_an_ensemble_before(random_model, candidate, audit):
    model_version_retire(version=random_model)
    change = model_promote(candidate=candidate, audit=audit)
    with pytest.raises(TransitionNotAllowed, match="no active ensemble before that change"):
        model_rollback(change=change, audit=audit)
    assert active_ensemble(task="brain_mri") == [candidate]


def test_roll_back_refuses_a_version_that_is_gone(random_model, candidate, audit, make_evaluation):
    make_evaluation(candidate)
    change = model_promote(candidate=candidate, audit=audit)
    ModelVersion.objects.filter(pk=random_model.pk).update(bundle_path="/nonexistent/bundle")
    with pytest.raises(TransitionNotAllowed, match="bundle folder /nonexistent/bundle is gone"):
        model_rollback(change=change, audit=audit)
    change.before = [{"version_id": 999999, "version": "gone@1", "weight": 1.0}]
    with pytest.raises(TransitionNotAllowed, match="gone@1 no longer exists"):
        model_rollback(change=change, audit=audit)
    assert active_ensemble(task="brain_mri") == [candidate]


def test_roll_back_to_an_earlier_champion(random_model, candidate, audit, make_evaluation):
    with pytest.raises(TransitionNotAllowed, match="was never active"):
        model_rollback_to(version=candidate, audit=audit)
    make_evaluation(candidate)
    model_promote(candidate=candidate, audit=audit)
    change = model_rollback_to(version=random_model, audit=audit)
    assert active_ensemble(task="brain_mri") == [random_model]
    assert change.gate["restores_version"] == random_model.pk
    with pytest.raises(TransitionNotAllowed, match="already the active one"):
        model_rollback_to(version=random_model, audit=audit)
