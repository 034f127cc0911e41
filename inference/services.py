"""Inference writes: registering model versions, requesting and retrying predictions, sweeping."""

from __future__ import annotations

import logging
import math
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from cases.models import Case, CaseStatus, User
from cases.services.audit import AuditContext, audit_record
from cases.services.lifecycle import case_set_status
from cases.services.task import task_ensure_for_card
from inference.models import ModelVersion, Prediction
from inference.selectors import active_ensemble
from inference.sweep import predictions_create_missing
from inference.tasks import run_predictions
from oncocore import registry
from oncocore.suitability import load_check
from oncoportal.exceptions import InvalidInput, TransitionNotAllowed

logger = logging.getLogger(__name__)


# --- Model versions ---------------------------------------------------------
def model_version_register(
    *, bundle_dir: Path, activate: bool = False, weight: float = 1.0, audit: AuditContext | None = None
) -> tuple[ModelVersion, bool]:
    """Register a bundle (idempotent by name + version). Returns (version, created).

    Raises InvalidInput when the bundle is malformed, its weights do not match
    the card's checksum, a different bundle already holds this name + version,
    or ``weight`` is not a finite number above zero.
    """
    weight = model_version_check_weight(weight)
    bundle_dir = Path(bundle_dir).resolve()
    try:
        card = registry.load_card(bundle_dir)
        actual = registry.weights_digest(bundle_dir, card)
        load_check(bundle_dir, card)  # a suitability check the card names must be there, unchanged
    except (registry.BundleError, OSError) as exc:
        raise InvalidInput(f"{bundle_dir}: {exc}") from exc
    if card.weights_sha256 and actual != card.weights_sha256:
        raise InvalidInput(f"{bundle_dir}: weights sha256 {actual[:12]}… does not match the card")
    with transaction.atomic():
        # The card's task must be known, or declared by the card (a hospital's own task, added as data).
        task_ensure_for_card(card=card, audit=audit)
        existing = (
            ModelVersion.objects.select_for_update().filter(name=card.name, version=card.version).first()
        )
        if existing is not None:
            if existing.weights_sha256 != actual:
                raise InvalidInput(
                    f"{card.name}@{card.version} is already registered with other weights; bump the version"
                )
            if existing.bundle_path != str(bundle_dir):
                existing.bundle_path = str(bundle_dir)
                existing.save(update_fields=["bundle_path"])
            version, created = existing, False
        else:
            version = ModelVersion.objects.create(
                name=card.name,
                version=card.version,
                task=card.task,
                arch=card.arch,
                bundle_path=str(bundle_dir),
                weights_sha256=actual,
                class_names=list(card.class_names),
                card=card.to_dict(),
                untrained=card.untrained,
                weight=weight,
            )
            created = True
            audit_record(action="model.registered", obj=version, audit=audit, detail={"task": card.task})
        if activate and version.status != ModelVersion.Status.ACTIVE:
            model_version_activate(version=version, audit=audit)
    return version, created


@transaction.atomic
def model_version_activate(
    *, version: ModelVersion, audit: AuditContext | None = None, exclusive: bool = False
) -> None:
    """Make a version active for its task; with ``exclusive`` the task's other active versions retire."""
    if version.status == ModelVersion.Status.RETIRED and not exclusive:
        logger.info("re-activating retired version %s", version)
    if exclusive:
        for other in ModelVersion.objects.filter(
            task=version.task, status=ModelVersion.Status.ACTIVE
        ).exclude(pk=version.pk):
            model_version_retire(version=other, audit=audit)
    ModelVersion.objects.filter(pk=version.pk).update(
        status=ModelVersion.Status.ACTIVE, activated_at=timezone.now(), retired_at=None
    )
    version.refresh_from_db()
    audit_record(action="model.activated", obj=version, audit=audit, detail={"task": version.task})


@transaction.atomic
def model_version_retire(*, version: ModelVersion, audit: AuditContext | None = None) -> None:
    """Stop using a version for new cases; its stored predictions stay.

    Idempotent: a version already retired keeps its retirement time and no
    event is recorded again. Retiring a task's last active version is allowed
    (as the admin and ``retire_model`` always have): the task then has no
    model: its new cases get no prediction and try-outs of it are refused
    until a version is activated.
    """
    retired = (
        ModelVersion.objects.filter(pk=version.pk)
        .exclude(status=ModelVersion.Status.RETIRED)
        .update(status=ModelVersion.Status.RETIRED, retired_at=timezone.now())
    )
    version.refresh_from_db()
    if not retired:
        return
    audit_record(action="model.retired", obj=version, audit=audit, detail={"task": version.task})


def model_version_check_weight(weight: object) -> float:
    """The ensemble weight as a float; raises InvalidInput unless it is a finite number above zero."""
    try:
        value = float(weight)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput(f"an ensemble weight must be a number, not {weight!r}") from None
    # NaN fails "> 0" too; infinity would swamp every other member of the ensemble.
    if not (math.isfinite(value) and value > 0):
        raise InvalidInput(f"an ensemble weight must be a finite number above zero, not {weight!r}")
    return value


@transaction.atomic
def model_version_set_weight(
    *, version: ModelVersion, weight: float, audit: AuditContext | None = None
) -> ModelVersion:
    """Set a version's ensemble weight; returns the updated version.

    Records a 'model.weight_changed' audit event with the old and new weight.
    Idempotent: the current weight writes nothing. Raises InvalidInput for a
    weight that is not a finite number above zero.
    """
    value = model_version_check_weight(weight)
    locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
    previous = locked.weight
    if previous == value:
        return locked
    ModelVersion.objects.filter(pk=locked.pk).update(weight=value)
    locked.refresh_from_db()
    audit_record(
        action="model.weight_changed",
        obj=locked,
        audit=audit,
        detail={"task": locked.task, "from": previous, "to": value},
    )
    return locked


@transaction.atomic
def ensemble_activate(
    *, members: list[tuple[ModelVersion, float]], audit: AuditContext | None = None
) -> None:
    """Make exactly these versions, with these weights, the task's active ensemble.

    The task's other active versions retire; the lead is the member of highest
    weight (then the oldest), as :func:`active_versions` orders them.

    Raises:
        InvalidInput: No members, members of different tasks, the same
            version twice, or a weight that is not a finite number above zero.
    """
    if not members:
        raise InvalidInput("an ensemble needs at least one member")
    tasks = {v.task for v, _ in members}
    if len(tasks) > 1:
        raise InvalidInput(f"ensemble members belong to different tasks: {', '.join(sorted(tasks))}")
    if len({v.pk for v, _ in members}) != len(members):
        raise InvalidInput("an ensemble lists the same model version twice")
    bad = [v.label for v, w in members if not (math.isfinite(w) and w > 0)]
    if bad:
        raise InvalidInput(f"ensemble weights must be positive: {', '.join(bad)}")
    (task,) = tasks
    keep = [v.pk for v, _ in members]
    for other in ModelVersion.objects.filter(task=task, status=ModelVersion.Status.ACTIVE).exclude(
        pk__in=keep
    ):
        model_version_retire(version=other, audit=audit)
    for version, weight in members:
        ModelVersion.objects.filter(pk=version.pk).update(weight=weight)
        model_version_activate(version=version, audit=audit)
    audit_record(
        action="model.ensemble_activated",
        obj=members[0][0],
        audit=audit,
        detail={"task": task, "members": {v.label: w for v, w in members}},
    )


def active_versions(*, task: str) -> list[ModelVersion]:
    """The task's ensemble, lead member first (highest weight, then oldest): the one selector's answer."""
    return active_ensemble(task=task)


# --- Predictions ------------------------------------------------------------
@transaction.atomic
def prediction_request(*, case: Case, requested_by: User | None = None) -> list[Prediction]:
    """Queue a prediction for every image of the case not yet scored by the task's active model.

    Idempotent: images already holding a prediction for the lead version are
    skipped (a unique constraint decides, also against the sweeper). Returns the new rows; none
    when the case has no task or the task has no active model.
    """
    members = active_versions(task=case.task)
    if not members:
        return []
    # The unique constraint decides against a concurrent request (the sweeper's case sweep).
    created = predictions_create_missing(case=case, lead=members[0], requested_by=requested_by)
    if not created:
        return []
    case_set_status(case_id=case.pk, status=CaseStatus.QUEUED)
    ids = [p.pk for p in created]
    # After commit, so the worker is sure to find the rows. Robust: if the broker is
    # down the rows stay queued and the sweeper sends them later.
    transaction.on_commit(lambda: run_predictions.delay(ids), robust=True)
    return created


@transaction.atomic
def case_retry(
    *, case: Case, user: User | None = None, audit: AuditContext | None = None
) -> list[Prediction]:
    """Re-queue a failed case: its failed predictions run again, missing ones are created.

    ``user`` is recorded as the new predictions' requester and as the actor.
    Raises TransitionNotAllowed unless the case has failed.
    """
    if case.status != CaseStatus.FAILED:
        raise TransitionNotAllowed(f"only failed cases can be retried (case {case.pk} is {case.status})")
    failed = Prediction.objects.filter(image__case=case, status=Prediction.Status.FAILED)
    ids = list(failed.values_list("pk", flat=True))
    failed.update(status=Prediction.Status.QUEUED, error="", started_at=None, finished_at=None)
    case_set_status(case_id=case.pk, status=CaseStatus.QUEUED, strict=True)
    audit_record(action="case.retried", actor=user, obj=case, site=case.site, audit=audit)
    if ids:
        transaction.on_commit(lambda: run_predictions.delay(ids), robust=True)
    case.refresh_from_db()
    return [*Prediction.objects.filter(pk__in=ids), *prediction_request(case=case, requested_by=user)]
