"""Drift references: a model's validation images scored through the one scoring path (issue 21, part 5).

A reference is what drift watch compares a task's recent cases with
(``lifecycle.selectors_drift``). Its images are, in this order of choice:

1. the validation split of a snapshot given by the caller;
2. the validation split of the snapshot the version's training job used;
3. the validation rows of the bundled data folder, split as the model's own
   training split them (``oncocore.training.data.card_validation_rows``).

They are scored by the version's ensemble (the task's active ensemble when
it leads it, else the version alone) without saliency maps, and counted by
``oncocore.drift.summarize``. Nothing is stored until every image is scored,
so a failed build leaves the previous reference as it was.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from cases.models import AuditSource
from cases.services.audit import AuditContext, audit_record
from curation.models import Snapshot, SnapshotItem, Split
from inference.decode import serving_array
from inference.models import ModelVersion
from inference.scoring import ensemble_for, predictor_for
from lifecycle.models import DriftReference
from lifecycle.selectors_drift import drift_cache_clear
from oncocore.decode import decode_local_file
from oncocore.drift import Observation, Thresholds, summarize
from oncocore.model_card import ModelCard
from oncocore.preprocessing import PreprocessSpec
from oncocore.registry import BundleError
from oncocore.scoring import score_batches
from oncocore.training.data import card_split_rows, card_validation_rows
from oncoportal import celery_config
from oncoportal.exceptions import InvalidInput
from retraining.models import TrainingJob

logger = logging.getLogger(__name__)


Decode = Callable[[Any], Any]


def spread(items: Sequence[Any], limit: int) -> list[Any]:
    """At most ``limit`` (>= 1) of ``items``, evenly spread (keeps the class mix of a split listed by class)."""
    if limit < 1:
        raise InvalidInput("the image limit must be 1 or more")
    if len(items) <= limit:
        return list(items)
    step = len(items) / limit
    return [items[math.floor(i * step)] for i in range(limit)]


def _snapshot_source(snapshot: Snapshot, spec: PreprocessSpec) -> tuple[str, list[Any], Decode]:
    items = list(
        SnapshotItem.objects.filter(snapshot=snapshot, split=Split.VAL)
        .select_related("image")
        .order_by("path")
    )
    if not items:
        raise InvalidInput(f"snapshot {snapshot.name} has no validation images")
    return f"snapshot {snapshot.name}, validation split", items, lambda item: serving_array(item.image, spec)


def _data_folder_source(
    version: ModelVersion, data_dir: Path | None, spec: PreprocessSpec
) -> tuple[str, list[Any], Decode]:
    root = Path(data_dir or settings.DATA_DIR)
    try:
        card = ModelCard.from_dict(version.card)
        if (root / "MANIFEST.tsv").exists():  # the data folder itself, not the folder of data folders
            folder, rows = root.name, card_split_rows(card, root)
        else:
            folder, rows = card_validation_rows(card, root)
    except (BundleError, ValueError, FileNotFoundError, KeyError) as exc:
        raise InvalidInput(
            f"{version}: no validation images to build a reference from ({str(exc).splitlines()[0]}); "
            "give a snapshot, or set ONCOPORTAL_DATA_DIR to the training data"
        ) from exc
    return (
        f"data folder {folder}, the model's validation split",
        rows,
        lambda row: decode_local_file(Path(row["abs_path"]), spec),
    )


def reference_source(
    *, version: ModelVersion, snapshot: Snapshot | None = None, data_dir: Path | None = None
) -> tuple[str, list[Any], Decode]:
    """Where a reference's images come from: (description, keys, decode), in the module's order of choice.

    Raises:
        InvalidInput: A snapshot of another task or without validation images, or no source at all.
    """
    spec = PreprocessSpec.from_dict(version.card["preprocessing"])
    if snapshot is not None:
        if snapshot.task != version.task:
            raise InvalidInput(f"snapshot {snapshot.name} is of task {snapshot.task}, not {version.task}")
        return _snapshot_source(snapshot, spec)
    job = TrainingJob.objects.filter(result_version=version).select_related("snapshot").first()
    if job is not None:
        return _snapshot_source(job.snapshot, spec)
    return _data_folder_source(version, data_dir, spec)


def drift_reference_build(
    *,
    version: ModelVersion,
    audit: AuditContext,
    snapshot: Snapshot | None = None,
    data_dir: Path | None = None,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DriftReference:
    """Score the version's validation images and store them as its drift reference (replacing any).

    Args:
        version: The model version.
        audit: Who asked, and from where.
        snapshot: Use this snapshot's validation split (else the module's order of choice).
        data_dir: The data root (or one data folder) for the fallback; default ONCOPORTAL_DATA_DIR.
        limit: At most this many images, evenly spread; default ``settings.DRIFT_REFERENCE_LIMIT``.
        progress: Called with (images scored, images in all) after each batch.

    Raises:
        InvalidInput: No usable source, or fewer images could be scored than a window needs.
    """
    source, keys, decode = reference_source(version=version, snapshot=snapshot, data_dir=data_dir)
    keys = spread(keys, settings.DRIFT_REFERENCE_LIMIT if limit is None else limit)
    members = ensemble_for(version)
    predictor = predictor_for(members)
    observations: list[Observation] = []
    failed = done = 0
    for batch in score_batches(predictor, keys, decode, saliency=False):
        for scored in batch:
            result = scored.result
            if result is None:
                failed += 1
                continue
            outside = result.in_scope is False
            observations.append(
                Observation(
                    "" if outside else result.label,
                    None if outside else result.confidence,
                    result.in_scope,
                    scored.input_stats,
                )
            )
        done += len(batch)
        if progress is not None:
            progress(done, len(keys))
    needed = Thresholds().min_images
    if len(observations) < needed:
        raise InvalidInput(
            f"{version}: only {len(observations)} validation image(s) could be scored "
            f"({failed} failed); a reference needs at least {needed}"
        )
    stats = summarize(observations, class_names=list(version.class_names))
    stats["members"] = [{"version_id": m.pk, "version": str(m), "weight": m.weight} for m in members]
    stats["failed"] = failed
    with transaction.atomic():
        reference, _ = DriftReference.objects.update_or_create(
            model_version=version,
            defaults={
                "source": source[:255],
                "n": len(observations),
                "stats": stats,
                "created_at": timezone.now(),
            },
        )
        audit_record(
            action="drift_reference.built",
            obj=reference,
            audit=audit,
            detail={"version": str(version), "source": source, "n": len(observations), "failed": failed},
        )
        transaction.on_commit(drift_cache_clear)
    return reference


def drift_reference_request(
    *, version: ModelVersion, audit: AuditContext, snapshot: Snapshot | None = None
) -> None:
    """Queue a reference build on the inference queue (the worker that has the model loaded).

    Checks the source first, so a request that cannot succeed is refused at once.

    Raises:
        InvalidInput: As :func:`reference_source`.
    """
    reference_source(version=version, snapshot=snapshot)
    with transaction.atomic():
        audit_record(
            action="drift_reference.requested",
            obj=version,
            audit=audit,
            detail={"version": str(version), "snapshot": snapshot.name if snapshot else None},
        )
        args = [version.pk, snapshot.pk if snapshot else None, audit.actor.pk if audit.actor else None]
        # By name (lifecycle.tasks imports the services, not the other way round); routed to "inference".
        transaction.on_commit(
            lambda: current_app.send_task(celery_config.BUILD_DRIFT_REFERENCE, args=args), robust=True
        )


def drift_reference_run(
    *, version_id: int, snapshot_id: int | None = None, actor_id: int | None = None
) -> int:
    """The worker's half of :func:`drift_reference_request`; returns the images counted (0: gone or refused).

    Safe to deliver twice: a second run builds the same reference again. A
    refusal (e.g. the snapshot lost its validation split) is logged, not retried.
    """
    version = ModelVersion.objects.filter(pk=version_id).first()
    snapshot = Snapshot.objects.filter(pk=snapshot_id).first() if snapshot_id is not None else None
    if version is None or (snapshot_id is not None and snapshot is None):
        logger.warning("drift reference of version %s: the version or snapshot is gone", version_id)
        return 0
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id is not None else None
    audit = AuditContext(actor=actor, source=AuditSource.WORKER)
    try:
        return drift_reference_build(version=version, snapshot=snapshot, audit=audit).n
    except InvalidInput as exc:
        logger.warning("drift reference of %s refused: %s", version, exc.message)
        return 0
