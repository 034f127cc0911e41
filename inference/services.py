"""Inference writes: registering model versions, requesting and retrying predictions, sweeping."""

from __future__ import annotations

import logging
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from cases.models import Case, CaseStatus, Task, User
from cases.services.audit import audit_record
from cases.services.lifecycle import case_set_status
from inference.models import ModelVersion, Prediction
from inference.selectors import active_ensemble
from inference.tasks import run_predictions
from oncocore import registry
from oncoportal.exceptions import InvalidInput, TransitionNotAllowed

logger = logging.getLogger(__name__)


# --- Model versions ---------------------------------------------------------
def model_version_register(
    *, bundle_dir: Path, activate: bool = False, weight: float = 1.0, user: User | None = None
) -> tuple[ModelVersion, bool]:
    """Register a bundle (idempotent by name + version). Returns (version, created).

    Raises InvalidInput when the bundle is malformed, its weights do not match
    the card's checksum, or a different bundle already holds this name + version.
    """
    bundle_dir = Path(bundle_dir).resolve()
    try:
        card = registry.load_card(bundle_dir)
        actual = registry.weights_digest(bundle_dir, card)
    except (registry.BundleError, OSError) as exc:
        raise InvalidInput(f"{bundle_dir}: {exc}") from exc
    if card.weights_sha256 and actual != card.weights_sha256:
        raise InvalidInput(f"{bundle_dir}: weights sha256 {actual[:12]}… does not match the card")
    if card.task not in Task.values or card.task == Task.UNASSIGNED:
        raise InvalidInput(f"{bundle_dir}: unknown task {card.task!r} (known: brain_mri, lung_ct, histology)")
    with transaction.atomic():
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
            audit_record(action="model.registered", actor=user, obj=version, detail={"task": card.task})
        if activate and version.status != ModelVersion.Status.ACTIVE:
            model_version_activate(version=version, user=user)
    return version, created


@transaction.atomic
def model_version_activate(
    *, version: ModelVersion, user: User | None = None, exclusive: bool = False
) -> None:
    """Make a version active for its task; with ``exclusive`` the task's other active versions retire."""
    if version.status == ModelVersion.Status.RETIRED and not exclusive:
        logger.info("re-activating retired version %s", version)
    if exclusive:
        for other in ModelVersion.objects.filter(
            task=version.task, status=ModelVersion.Status.ACTIVE
        ).exclude(pk=version.pk):
            model_version_retire(version=other, user=user)
    ModelVersion.objects.filter(pk=version.pk).update(
        status=ModelVersion.Status.ACTIVE, activated_at=timezone.now(), retired_at=None
    )
    version.refresh_from_db()
    audit_record(action="model.activated", actor=user, obj=version, detail={"task": version.task})


@transaction.atomic
def model_version_retire(*, version: ModelVersion, user: User | None = None) -> None:
    """Stop using a version for new cases; its stored predictions stay."""
    ModelVersion.objects.filter(pk=version.pk).update(
        status=ModelVersion.Status.RETIRED, retired_at=timezone.now()
    )
    version.refresh_from_db()
    audit_record(action="model.retired", actor=user, obj=version, detail={"task": version.task})


@transaction.atomic
def ensemble_activate(*, members: list[tuple[ModelVersion, float]], user: User | None = None) -> None:
    """Make exactly these versions, with these weights, the task's active ensemble.

    The task's other active versions retire; the lead is the member of highest
    weight (then the oldest), as :func:`active_versions` orders them.

    Raises:
        InvalidInput: No members, members of different tasks, the same
            version twice, or a weight that is not positive.
    """
    if not members:
        raise InvalidInput("an ensemble needs at least one member")
    tasks = {v.task for v, _ in members}
    if len(tasks) > 1:
        raise InvalidInput(f"ensemble members belong to different tasks: {', '.join(sorted(tasks))}")
    if len({v.pk for v, _ in members}) != len(members):
        raise InvalidInput("an ensemble lists the same model version twice")
    bad = [v.label for v, w in members if not w > 0]
    if bad:
        raise InvalidInput(f"ensemble weights must be positive: {', '.join(bad)}")
    (task,) = tasks
    keep = [v.pk for v, _ in members]
    for other in ModelVersion.objects.filter(task=task, status=ModelVersion.Status.ACTIVE).exclude(
        pk__in=keep
    ):
        model_version_retire(version=other, user=user)
    for version, weight in members:
        ModelVersion.objects.filter(pk=version.pk).update(weight=weight)
        model_version_activate(version=version, user=user)
    audit_record(
        action="model.ensemble_activated",
        actor=user,
        obj=members[0][0],
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
    skipped (a unique constraint backs this up). Returns the new rows; none
    when the case has no task or the task has no active model.
    """
    members = active_versions(task=case.task)
    if not members:
        return []
    lead = members[0]
    done = Prediction.objects.filter(image__case=case, model_version=lead).values("image_id")
    new = [
        Prediction(image=image, model_version=lead, requested_by=requested_by, untrained=lead.untrained)
        for image in case.images.exclude(pk__in=done)
    ]
    if not new:
        return []
    Prediction.objects.bulk_create(new)
    created = list(
        Prediction.objects.filter(image__case=case, model_version=lead, status=Prediction.Status.QUEUED)
    )
    case_set_status(case_id=case.pk, status=CaseStatus.QUEUED)
    ids = [p.pk for p in created]
    # After commit, so the worker is sure to find the rows. Robust: if the broker is
    # down the rows stay queued and the sweeper sends them later.
    transaction.on_commit(lambda: run_predictions.delay(ids), robust=True)
    return created


@transaction.atomic
def case_retry(*, case: Case, user: User | None = None) -> list[Prediction]:
    """Re-queue a failed case: its failed predictions run again, missing ones are created."""
    if case.status != CaseStatus.FAILED:
        raise TransitionNotAllowed(f"only failed cases can be retried (case {case.pk} is {case.status})")
    failed = Prediction.objects.filter(image__case=case, status=Prediction.Status.FAILED)
    ids = list(failed.values_list("pk", flat=True))
    failed.update(status=Prediction.Status.QUEUED, error="", started_at=None, finished_at=None)
    case_set_status(case_id=case.pk, status=CaseStatus.QUEUED, strict=True)
    audit_record(action="case.retried", actor=user, obj=case, site=case.site)
    if ids:
        transaction.on_commit(lambda: run_predictions.delay(ids), robust=True)
    case.refresh_from_db()
    return [*Prediction.objects.filter(pk__in=ids), *prediction_request(case=case, requested_by=user)]
