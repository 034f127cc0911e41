"""Worker side of a try-out: the case pipeline's scoring path and cached predictor, on one stored file.

Safe to run twice: only a QUEUED row (or one RUNNING past the hard time limit,
whose worker died) is claimed, the map always has the same name, and the
result lands only on a row that is still RUNNING. Like a case's prediction,
the saliency map is stored at the model's own resolution and the overlay is
drawn when the page first asks for it. A try-out discarded or
expired while its model ran leaves no file behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from datetime import datetime, timedelta
from functools import partial

import numpy as np
from celery import current_app
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from cases.models import AuditSource, ImageKind
from cases.services.audit import AuditContext, audit_record
from inference.models import TryOut
from inference.pipeline import TransientError
from inference.scoring import ensemble_for, predictor_for, put, read, result_columns
from oncocore.imaging.errors import one_line
from oncocore.registry import BundleError
from oncocore.scoring import model_input, score_batches
from oncoportal import celery_config

logger = logging.getLogger(__name__)

# Expired try-outs handled per sweep; the next sweep takes the rest.
EXPIRE_BATCH = 500
# A try-out still queued this long after it was sent lost its message (a broker
# outage): the sweep sends it again. Someone is waiting on the page.
RESEND_AFTER_S = 60
RUN_TASK = celery_config.RUN_TRYOUT
# The run_tryout task's limits (oncoportal.celery_config); RUNNING past the hard one: a lost worker.
SOFT_TIME_LIMIT_S = celery_config.TASKS[RUN_TASK].soft_time_limit
TIME_LIMIT_S = celery_config.TASKS[RUN_TASK].time_limit


def tryout_run(*, tryout_id: str) -> bool:
    """Predict one try-out and store its saliency map; True when this call finished it. Idempotent.

    Raises:
        TransientError: Storage hiccup; the row is queued again for the retry.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=celery_config.lost_after_s(RUN_TASK))
    claimed = (
        TryOut.objects.filter(pk=tryout_id)
        .filter(Q(status=TryOut.Status.QUEUED) | Q(status=TryOut.Status.RUNNING, started_at__lt=stale))
        .update(status=TryOut.Status.RUNNING, started_at=now)
    )
    if not claimed:
        return False  # done, discarded, or another delivery is on it
    tryout = TryOut.objects.select_related("model_version").get(pk=tryout_id)
    try:
        return _predict(tryout)
    except BundleError as exc:  # a ValueError: before the decode errors
        _fail(tryout, f"model {tryout.model_version} unusable: {one_line(str(exc))}")
        raise
    except (ValueError, KeyError) as exc:
        _fail(tryout, f"cannot decode image: {one_line(str(exc))}")
    except FileNotFoundError as exc:  # an OSError: before the transient ones
        _fail(tryout, f"stored file missing: {exc.filename or exc}")
    except OSError as exc:
        TryOut.objects.filter(pk=tryout.pk, status=TryOut.Status.RUNNING).update(status=TryOut.Status.QUEUED)
        raise TransientError(one_line(f"{type(exc).__name__}: {exc}")) from exc
    except Exception as exc:
        _fail(tryout, one_line(f"{type(exc).__name__}: {exc}"))
        raise
    return False


def _predict(tryout: TryOut) -> bool:
    if tryout.model_version is None:
        _fail(tryout, "the model chosen for this try-out no longer exists")
        return False
    t0 = time.perf_counter()
    members = ensemble_for(tryout.model_version)  # the same ensemble a case of this task gets
    predictor = predictor_for(members)  # cached per worker process, shared with case predictions
    spec = predictor.members[0].card.preprocessing
    load_ms = (time.perf_counter() - t0) * 1e3

    def decode(item: TryOut) -> np.ndarray:
        # DICOM: the middle frame (frame=None), as intake shows it.
        return model_input(read(item.file.name), dicom=item.kind == ImageKind.DICOM, spec=spec)

    # The case pipeline's scoring path, on a batch of one.
    (scored,) = next(score_batches(predictor, [tryout], decode, batch_size=1))
    if scored.error is not None:
        raise scored.error  # classified by tryout_run, as any decode error
    assert scored.result is not None
    t1 = time.perf_counter()
    saliency_name = (
        put(f"{tryout.storage_prefix}/cam.png", scored.saliency_png)
        if scored.saliency_png and not scored.out_of_scope
        else ""
    )
    queue_wait = (tryout.started_at - tryout.created_at).total_seconds() * 1e3 if tryout.started_at else None
    timings = {
        "queue_wait_ms": queue_wait,
        "load_ms": load_ms,
        "decode_ms": scored.decode_ms,
        **scored.result.timings,
        "save_ms": (time.perf_counter() - t1) * 1e3,
    }
    updated = TryOut.objects.filter(pk=tryout.pk, status=TryOut.Status.RUNNING).update(
        **result_columns(scored, members=members, saliency_name=saliency_name, timings=timings),
        overlay="",  # drawn from the map when the page first asks for it (inference.scoring)
        finished_at=timezone.now(),
    )
    if not updated and not TryOut.objects.filter(pk=tryout.pk).exists():
        # Discarded or expired while the model ran: its files are already gone but this one.
        _delete_quietly(saliency_name)
    return bool(updated)


def _fail(tryout: TryOut, error: str) -> None:
    TryOut.objects.filter(pk=tryout.pk, status=TryOut.Status.RUNNING).update(
        status=TryOut.Status.FAILED, error=error, finished_at=timezone.now()
    )


def _delete_quietly(name: str) -> None:
    if name:
        with contextlib.suppress(OSError):
            default_storage.delete(name)


# --- Files and expiry ---------------------------------------------------------
def tryout_delete_files(*, storage_prefix: str) -> None:
    """Delete every file under a try-out's prefix (and its folder, on local storage).

    Raises:
        OSError: A file could not be deleted; the caller keeps the row so a later sweep retries.
    """
    if not storage_prefix.startswith("tryout/"):
        raise ValueError(f"not a try-out prefix: {storage_prefix!r}")  # never delete outside tryout/
    try:
        _, files = default_storage.listdir(storage_prefix)
    except FileNotFoundError:
        return
    for name in files:
        default_storage.delete(f"{storage_prefix}/{name}")
    try:
        folder = default_storage.path(storage_prefix)
    except NotImplementedError:  # object storage has no folders
        return
    with contextlib.suppress(FileNotFoundError):
        os.rmdir(folder)


def tryouts_resend(*, now: datetime | None = None) -> int:
    """Send again the try-outs queued for over RESEND_AFTER_S (lost messages); returns how many.

    ``started_at`` marks a re-send, so a row is sent at most once per interval.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=RESEND_AFTER_S)
    with transaction.atomic():
        stuck = list(
            TryOut.objects.select_for_update(skip_locked=True)
            .filter(status=TryOut.Status.QUEUED, expires_at__gt=now)
            .filter(Q(started_at__isnull=True, created_at__lt=cutoff) | Q(started_at__lt=cutoff))
            .values_list("pk", flat=True)[:EXPIRE_BATCH]
        )
        if not stuck:
            return 0
        TryOut.objects.filter(pk__in=stuck).update(started_at=now)
        for pk in stuck:
            transaction.on_commit(partial(current_app.send_task, RUN_TASK, args=[str(pk)]), robust=True)
    logger.warning("re-sent %d queued try-out(s)", len(stuck))
    return len(stuck)


def tryouts_expire(*, now: datetime | None = None) -> int:
    """Delete try-outs past ``expires_at``, files then row; returns how many rows went. Idempotent.

    A try-out whose files cannot be deleted keeps its row, so the next sweep tries again.
    """
    now = now or timezone.now()
    expired = list(
        TryOut.objects.filter(expires_at__lte=now).only("pk", "storage_prefix", "site_id")[:EXPIRE_BATCH]
    )
    removed = 0
    audit = AuditContext.system(source=AuditSource.WORKER)
    for tryout in expired:
        try:
            tryout_delete_files(storage_prefix=tryout.storage_prefix)
        except OSError:
            logger.warning(
                "could not delete the files of expired try-out %s; retrying next sweep",
                tryout.pk,
                exc_info=True,
            )
            continue
        with transaction.atomic():
            deleted = TryOut.objects.filter(pk=tryout.pk).delete()[0]
            if deleted:
                # As a discard is recorded, with the worker as the way in and no actor.
                audit_record(
                    action="tryout.deleted",
                    obj=tryout,
                    site=tryout.site,
                    audit=audit,
                    detail={"reason": "expired"},
                )
        removed += deleted
    if removed:
        logger.info("deleted %d expired try-out(s)", removed)
    return removed
