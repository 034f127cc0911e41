"""Worker side: claim queued predictions, then score them in batches through the one scoring path.

Safe to run twice for the same ids: only rows still QUEUED are claimed (a
conditional UPDATE), every output file is named after the prediction id, and
the final write skips rows that are already DONE.

Each map is stored at the model's own resolution (a few cells); the
full-resolution map and the overlay are rendered when someone first looks at
them (``inference.scoring``), not here.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from cases.models import AuditSource, CaseStatus
from cases.services.audit import AuditContext, audit_records
from cases.services.lifecycle import cases_set_status
from inference.case_status import cases_refresh_status
from inference.claims import heartbeat, worker_identity
from inference.decode import serving_array
from inference.models import ModelVersion, Prediction
from inference.scoring import RESULT_COLUMNS, ensemble_for, forget_renders, predictor_for, put, result_columns
from oncocore.registry import BundleError
from oncocore.scoring import Scored, score_batches
from oncoportal import celery_config
from oncoportal.db import DATABASE_UNAVAILABLE, rows_update

logger = logging.getLogger(__name__)

RUN_TASK = celery_config.RUN_PREDICTIONS


class TransientError(Exception):
    """Storage or database hiccup: the task is retried with backoff."""


# --- The run ----------------------------------------------------------------
def predictions_run(*, prediction_ids: Sequence[int]) -> int:
    """Run the given predictions; returns how many this call completed. Idempotent."""
    me = worker_identity()
    claimed = _claim(prediction_ids, worker=me)
    if not claimed:
        return 0
    with heartbeat(prediction_ids=[p.pk for p in claimed], worker=me):
        return _run_claimed(claimed)


def _run_claimed(claimed: list[Prediction]) -> int:
    case_ids = sorted({p.image.case_id for p in claimed})
    done = 0
    try:
        # Inside the try: once claimed, a failure anywhere must put the rows back.
        cases_set_status(case_ids=case_ids, status=CaseStatus.PREDICTING)  # one UPDATE for all of them
        by_lead: dict[int, list[Prediction]] = defaultdict(list)
        for p in claimed:
            by_lead[p.model_version_id].append(p)
        for preds in by_lead.values():
            done += _run_group(preds)
    except Exception as exc:
        # A missing or corrupt model bundle is a configuration error, not a hiccup; a database
        # that went away (restart, failover, cut connection) is one.
        transient = isinstance(exc, (OSError, TransientError, *DATABASE_UNAVAILABLE)) and not isinstance(
            exc, BundleError
        )
        # Put back what this call did not finish; a transient error retries it.
        still = Prediction.objects.filter(_owned(claimed))
        if transient:
            # The retry claims only QUEUED rows: rows left RUNNING would wait for the sweeper's
            # lost-worker limit (the hard time limit and more), so wait for the database here.
            _when_database_is_back(lambda: still.update(status=Prediction.Status.QUEUED))
        else:
            reason = (
                f"model {lead_label(claimed)} unusable: {_one_line(exc)}"
                if isinstance(exc, BundleError)
                else _one_line(exc)
            )
            still.update(status=Prediction.Status.FAILED, error=reason, finished_at=timezone.now())
        _when_database_is_back(lambda: _refresh_cases(case_ids))
        if transient:
            raise TransientError(_one_line(exc)) from exc
        raise
    _refresh_cases(case_ids)
    return done


def _when_database_is_back(write: Callable[[], object]) -> None:
    """Run ``write``, trying again on a fresh connection while the database is unavailable.

    Bounded by DATABASE_RECONNECT_WAIT (a restart takes seconds); past it the error is raised
    and the rows wait for the sweeper.
    """
    deadline = time.monotonic() + settings.DATABASE_RECONNECT_WAIT
    pause = 0.5
    while True:
        try:
            write()
            return
        except DATABASE_UNAVAILABLE as exc:
            # Not in a transaction here; the broken connection must go, or every try reuses it.
            connection.close()
            if time.monotonic() + pause > deadline:
                raise
            logger.warning("database unavailable, trying again in %.1f s: %s", pause, _one_line(exc))
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def lead_label(predictions: Sequence[Prediction]) -> str:
    return ", ".join(sorted({str(p.model_version) for p in predictions}))


def _refresh_cases(case_ids: Sequence[int]) -> None:
    with transaction.atomic():  # one commit for all the cases, not one each
        cases_refresh_status(case_ids=case_ids)


def _claim(prediction_ids: Sequence[int], *, worker: str) -> list[Prediction]:
    now = timezone.now()
    # One conditional UPDATE decides which rows this call owns: only rows still
    # QUEUED move to RUNNING, so a second delivery, or another worker, claims
    # none of them. The claim time marks ours among the ids asked for (another
    # worker claiming others of these ids in the same microsecond is the only
    # way to mistake one, and then it would be scored twice, never written twice).
    # The worker and the first beat let the sweeper see this run die (inference.claims);
    # the new claim count is the token its results are written under.
    with transaction.atomic():
        Prediction.objects.filter(pk__in=list(prediction_ids), status=Prediction.Status.QUEUED).update(
            status=Prediction.Status.RUNNING,
            started_at=now,
            heartbeat_at=now,
            worker=worker,
            attempts=F("attempts") + 1,
        )
    return list(
        Prediction.objects.filter(
            pk__in=list(prediction_ids), status=Prediction.Status.RUNNING, started_at=now, worker=worker
        )
        .select_related("image", "model_version")
        .order_by("pk")
    )


def _owned(preds: Sequence[Prediction]) -> Q:
    """The rows still RUNNING under the claims of ``preds`` (none a sweeper gave to another run)."""
    owned = Q(pk__in=[])
    for p in preds:
        owned |= Q(pk=p.pk, attempts=p.attempts)
    return owned & Q(status=Prediction.Status.RUNNING)


def _run_group(preds: list[Prediction]) -> int:
    members = ensemble_for(preds[0].model_version)
    predictor = predictor_for(members)
    spec = predictor.members[0].card.preprocessing
    done = 0
    # The next batch decodes in score_batches' pool while the model runs on
    # this one. A map is a few cells now, so storing it is cheap enough to do
    # here; the rows of a batch are written in one transaction.
    for batch in score_batches(predictor, preds, lambda p: serving_array(p.image, spec)):
        t0 = time.perf_counter()
        names = {s.key.pk: _store_map(s) for s in batch if s.result is not None}
        files_ms = (time.perf_counter() - t0) * 1e3
        for s in batch:
            if s.error is not None:
                _finish_failed(s.key, _decode_error(s.error))
        done += _save_rows([s for s in batch if s.result is not None], names, members, files_ms)
    return done


def _decode_error(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"stored file missing: {exc.filename or exc}"
    return f"cannot decode image: {_one_line(exc)}"


def _store_map(scored: Scored[Prediction]) -> str:
    if scored.key.saliency_raw:
        # A rerun (the sweeper's): renders cached from the old map would not match the new one.
        forget_renders(scored.key)
    if not scored.saliency_png or scored.out_of_scope:  # no class, so no map of one
        return ""
    return put(f"predictions/{scored.key.pk}/cam.png", scored.saliency_png)


# The columns _save_rows writes: ScoredResult's result columns plus the run's own.
_ROW_FIELDS = [
    *RESULT_COLUMNS,
    "frame",
    "saliency_overlay",
    "finished_at",
]


def _save_rows(
    batch: Sequence[Scored[Prediction]],
    names: dict[int, str],
    members: Sequence[ModelVersion],
    files_ms: float,
) -> int:
    """Write a batch's results in one transaction and one UPDATE; returns how many rows this call finished.

    Only rows still RUNNING under this run's claim are written: rows already
    DONE (a second delivery finished them first), or put back and claimed again
    after the sweeper took this run for dead, are left alone. On PostgreSQL they
    are locked while this decides, so no two runs write one row.
    """
    if not batch:
        return 0
    t0 = time.perf_counter()
    with transaction.atomic():
        open_rows = set(
            Prediction.objects.select_for_update()
            .filter(_owned([s.key for s in batch]))
            .values_list("pk", flat=True)
        )
        rows: dict[int, dict[str, Any]] = {}
        finished = timezone.now()
        save_ms = files_ms / len(batch) + (time.perf_counter() - t0) * 1e3 / len(batch)
        for scored in batch:
            p, result = scored.key, scored.result
            if p.pk not in open_rows or result is None:
                continue
            queue_wait_ms = (p.started_at - p.created_at).total_seconds() * 1e3 if p.started_at else None
            timings: dict[str, Any] = {
                "queue_wait_ms": queue_wait_ms,
                "decode_ms": scored.decode_ms,
                **result.timings,
                "save_ms": save_ms,
            }
            rows[p.pk] = {
                **result_columns(scored, members=members, saliency_name=names[p.pk], timings=timings),
                "frame": p.image.key_frame,
                "saliency_overlay": "",  # a rerun's map replaces the old one: its overlay is drawn anew
                "finished_at": finished,
            }
        rows_update(Prediction, fields=_ROW_FIELDS, rows=rows)
        # Each result in the case history (issue 23), one INSERT per batch.
        audit_records(
            action="prediction.completed",
            items=[
                (
                    s.key,
                    {
                        "image": s.key.image_id,
                        "label": rows[s.key.pk]["label"],
                        "model": str(s.key.model_version),
                    },
                )
                for s in batch
                if s.key.pk in rows
            ],
            audit=AuditContext.system(source=AuditSource.WORKER),
        )
    return len(rows)


def _finish_failed(prediction: Prediction, error: str) -> None:
    Prediction.objects.filter(_owned([prediction])).update(
        status=Prediction.Status.FAILED, error=error, finished_at=timezone.now()
    )


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]
