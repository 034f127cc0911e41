"""Worker side: claim queued predictions, decode, predict in batches, save maps and rows.

Safe to run twice for the same ids: only rows still QUEUED are claimed (a
conditional UPDATE), every output file is named after the prediction id, and
the final write skips rows that are already DONE.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from celery import current_app
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from PIL import Image as PILImage

from cases.models import Case, CaseStatus, Image
from cases.services.case import AiResult, case_set_ai_summary
from cases.services.lifecycle import case_set_status
from inference.decode import serving_array
from inference.models import ModelVersion, Prediction
from oncocore.predictor import PredictionResult, Predictor, iter_prepared
from oncocore.preprocessing import PreprocessSpec
from oncocore.registry import BundleError
from oncocore.saliency import cam_to_png16, overlay_png
from oncoportal import celery_config

logger = logging.getLogger(__name__)

RUN_TASK = celery_config.RUN_PREDICTIONS


class TransientError(Exception):
    """Storage or database hiccup: the task is retried with backoff."""


# --- Predictors: loaded once per worker process -----------------------------
_predictors: dict[tuple[tuple[int, float], ...], Predictor] = {}
_predictors_lock = threading.Lock()


def ensemble_for(lead: ModelVersion) -> list[ModelVersion]:
    """The lead's current ensemble: the task's active versions, or the lead alone if it was retired."""
    members = list(
        ModelVersion.objects.filter(task=lead.task, status=ModelVersion.Status.ACTIVE).order_by(
            "-weight", "pk"
        )
    )
    return members if members and members[0].pk == lead.pk else [lead]


def predictor_for(members: Sequence[ModelVersion]) -> Predictor:
    """A cached Predictor for these versions; the first call per process loads the weights."""
    key = tuple((m.pk, m.weight) for m in members)
    with _predictors_lock:
        predictor = _predictors.get(key)
        if predictor is None:
            device = None if settings.INFERENCE_DEVICE == "auto" else settings.INFERENCE_DEVICE
            predictor = Predictor(
                [m.bundle_path for m in members],
                weights=[m.weight for m in members],
                device=device,
                batch_size=settings.INFERENCE_BATCH_SIZE,
            )
            _predictors.clear()  # one ensemble per task is live; keep memory bounded
            _predictors[key] = predictor
    return predictor


# --- The run ----------------------------------------------------------------
@dataclass
class _Decoded:
    prediction: Prediction
    array: np.ndarray | None
    display: np.ndarray | None
    error: str
    decode_ms: float


def predictions_run(*, prediction_ids: Sequence[int]) -> int:
    """Run the given predictions; returns how many this call completed. Idempotent."""
    claimed = _claim(prediction_ids)
    if not claimed:
        return 0
    case_ids = {p.image.case_id for p in claimed}
    for case_id in case_ids:
        case_set_status(case_id=case_id, status=CaseStatus.PREDICTING)
    done = 0
    try:
        by_lead: dict[int, list[Prediction]] = defaultdict(list)
        for p in claimed:
            by_lead[p.model_version_id].append(p)
        for preds in by_lead.values():
            done += _run_group(preds)
    except Exception as exc:
        # A missing or corrupt model bundle is a configuration error, not a hiccup.
        transient = isinstance(exc, (OSError, TransientError)) and not isinstance(exc, BundleError)
        # Put back what this call did not finish; a transient error retries it.
        still = Prediction.objects.filter(pk__in=[p.pk for p in claimed], status=Prediction.Status.RUNNING)
        if transient:
            still.update(status=Prediction.Status.QUEUED)
        else:
            reason = (
                f"model {lead_label(claimed)} unusable: {_one_line(exc)}"
                if isinstance(exc, BundleError)
                else _one_line(exc)
            )
            still.update(status=Prediction.Status.FAILED, error=reason, finished_at=timezone.now())
        for case_id in case_ids:
            case_refresh_status(case_id=case_id)
        if transient:
            raise TransientError(_one_line(exc)) from exc
        raise
    for case_id in case_ids:
        case_refresh_status(case_id=case_id)
    return done


def lead_label(predictions: Sequence[Prediction]) -> str:
    return ", ".join(sorted({str(p.model_version) for p in predictions}))


def _claim(prediction_ids: Sequence[int]) -> list[Prediction]:
    now = timezone.now()
    claimed_ids = [
        pk
        for pk in prediction_ids
        if Prediction.objects.filter(pk=pk, status=Prediction.Status.QUEUED).update(
            status=Prediction.Status.RUNNING, started_at=now, attempts=F("attempts") + 1
        )
    ]
    return list(
        Prediction.objects.filter(pk__in=claimed_ids).select_related("image", "model_version").order_by("pk")
    )


def _run_group(preds: list[Prediction]) -> int:
    members = ensemble_for(preds[0].model_version)
    predictor = predictor_for(members)
    spec = predictor.members[0].card.preprocessing
    done = 0
    # Three stages overlap: the next batch decodes in iter_prepared's pool,
    # this batch runs on the model, and the previous batch's PNGs are encoded
    # and stored by `saver`. Rows are written here, in this thread's
    # connection, one transaction per batch.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="save") as saver:
        pending: tuple[Future[list[_Stored]], list[_Decoded], list[PredictionResult]] | None = None
        for batch in iter_prepared(preds, lambda p: _decode(p, spec), batch_size=predictor.batch_size):
            ok = [d for d in batch if d.error == ""]
            for failed in (d for d in batch if d.error):
                _finish_failed(failed.prediction, failed.error)
            if not ok:
                continue
            results = predictor.predict_batch([d.array for d in ok], saliency=True)  # type: ignore[misc]
            if pending is not None:
                done += _write_rows(*pending, members=members)
            pending = (saver.submit(_store_files, ok, results), ok, results)
        if pending is not None:
            done += _write_rows(*pending, members=members)
    return done


def _decode(prediction: Prediction, spec: PreprocessSpec) -> _Decoded:
    t0 = time.perf_counter()
    image: Image = prediction.image
    try:
        array = serving_array(image, spec)
        if array.dtype == np.uint8:
            display = array  # the 8-bit image the model saw, at full resolution
        else:  # raw values (a windowing spec): overlay on the stored display rendering
            with default_storage.open(image.display_name(image.key_frame)) as fh:
                display = np.asarray(PILImage.open(io.BytesIO(fh.read())).convert("RGB"))
    except (ValueError, KeyError) as exc:
        return _Decoded(prediction, None, None, f"cannot decode image: {_one_line(exc)}", 0.0)
    except FileNotFoundError as exc:
        return _Decoded(prediction, None, None, f"stored file missing: {exc.filename or exc}", 0.0)
    return _Decoded(prediction, array, display, "", (time.perf_counter() - t0) * 1e3)


@dataclass
class _Stored:
    raw_name: str
    overlay_name: str
    ms: float


def _store_files(decoded: list[_Decoded], results: list[PredictionResult]) -> list[_Stored]:
    """Encode and store each prediction's maps (runs in the saver thread; no database access)."""
    stored = []
    for d, r in zip(decoded, results, strict=True):
        t0 = time.perf_counter()
        raw_name = overlay_name = ""
        if r.cam is not None:
            assert d.display is not None  # set whenever decoding succeeded (error == "")
            raw_name = _put(f"predictions/{d.prediction.pk}/saliency.png", cam_to_png16(r.cam))
            overlay_name = _put(f"predictions/{d.prediction.pk}/overlay.png", overlay_png(d.display, r.cam))
        stored.append(_Stored(raw_name, overlay_name, (time.perf_counter() - t0) * 1e3))
    return stored


def _write_rows(
    future: Future[list[_Stored]],
    decoded: list[_Decoded],
    results: list[PredictionResult],
    *,
    members: Sequence[ModelVersion],
) -> int:
    stored = future.result()  # re-raises a storage error here, in the task's thread
    t0 = time.perf_counter()
    updated = 0
    with transaction.atomic():
        for d, r, files in zip(decoded, results, stored, strict=True):
            updated += _save_row(d, r, files, members, row_ms=(time.perf_counter() - t0) * 1e3 / len(decoded))
    return updated


def _save_row(
    decoded: _Decoded,
    result: PredictionResult,
    files: _Stored,
    members: Sequence[ModelVersion],
    row_ms: float,
) -> int:
    p = decoded.prediction
    queue_wait_ms = (p.started_at - p.created_at).total_seconds() * 1e3 if p.started_at else None
    timings = {
        "queue_wait_ms": queue_wait_ms,
        "decode_ms": decoded.decode_ms,
        **result.timings,
        "save_ms": files.ms + row_ms,
    }
    return (
        Prediction.objects.filter(pk=p.pk)
        .exclude(status=Prediction.Status.DONE)
        .update(
            status=Prediction.Status.DONE,
            label=result.label,
            confidence=result.confidence,
            probabilities=result.probabilities,
            uncertainty=result.uncertainty,
            disagreement=result.disagreement if len(members) > 1 else None,
            members=member_rows(members, result),
            untrained=result.untrained,
            frame=p.image.key_frame,
            saliency_raw=files.raw_name,
            saliency_overlay=files.overlay_name,
            device=result.device,
            timings=timings,
            error="",
            finished_at=timezone.now(),
        )
    )


def member_rows(members: Sequence[ModelVersion], result: PredictionResult) -> list[dict[str, object]]:
    """Each ensemble member's version, weight and probabilities, as stored with a result."""
    return [
        {"version_id": m.pk, "version": str(m), "weight": m.weight, "probabilities": probs}
        for m, probs in zip(members, result.member_probabilities or [result.probabilities], strict=False)
    ]


def _finish_failed(prediction: Prediction, error: str) -> None:
    Prediction.objects.filter(pk=prediction.pk).exclude(status=Prediction.Status.DONE).update(
        status=Prediction.Status.FAILED, error=error, finished_at=timezone.now()
    )


def _put(name: str, data: bytes) -> str:
    # Same name on every run: a redelivered task overwrites instead of adding files.
    if default_storage.exists(name):
        default_storage.delete(name)
    return default_storage.save(name, ContentFile(data))


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]


# --- Case status and the sweeper ---------------------------------------------
def case_refresh_status(*, case_id: int) -> str | None:
    """Derive the case status from the newest prediction of each image."""
    latest: dict[int, tuple[str, str]] = {}
    for image_id, status, error in (
        Prediction.objects.filter(image__case_id=case_id)
        .order_by("image_id", "pk")
        .values_list("image_id", "status", "error")
    ):
        latest[image_id] = (status, error)
    if not latest:
        return None
    case_refresh_ai_summary(case_id=case_id)
    statuses = {status for status, _ in latest.values()}
    if statuses & {Prediction.Status.QUEUED, Prediction.Status.RUNNING}:
        return None
    if Prediction.Status.FAILED in statuses:
        errors = sorted({error for status, error in latest.values() if status == Prediction.Status.FAILED})
        case_set_status(case_id=case_id, status=CaseStatus.FAILED, reason="; ".join(errors))
        return CaseStatus.FAILED
    case_set_status(case_id=case_id, status=CaseStatus.PREDICTED)
    return CaseStatus.PREDICTED


def case_refresh_ai_summary(*, case_id: int) -> None:
    """Copy the newest finished prediction of each image (for the case's current task) into the case summary."""
    task = Case.objects.filter(pk=case_id).values_list("task", flat=True).first()
    if task is None:
        return
    newest: dict[int, AiResult] = {}
    for image_id, label, confidence, uncertainty, untrained in (
        Prediction.objects.filter(
            image__case_id=case_id, status=Prediction.Status.DONE, model_version__task=task
        )
        .order_by("image_id", "pk")
        .values_list("image_id", "label", "confidence", "uncertainty", "untrained")
    ):
        newest[image_id] = AiResult(label, confidence, uncertainty, untrained)
    case_set_ai_summary(case_id=case_id, task=task, results=list(newest.values()))


def predictions_sweep(*, now: datetime | None = None) -> int:
    """Re-send work lost by a broker or a killed worker. Returns how many predictions were re-sent.

    RUNNING for longer than the hard time limit means the worker died; QUEUED
    for longer than PREDICTION_REQUEUE_AFTER means the message was lost.
    ``started_at`` marks a re-send, so one row is not re-sent on every sweep.
    """
    now = now or timezone.now()
    stuck_running = now - timedelta(seconds=celery_config.lost_after_s(RUN_TASK))
    stuck_queued = now - timedelta(seconds=settings.PREDICTION_REQUEUE_AFTER)
    with transaction.atomic():
        stuck = list(
            Prediction.objects.select_for_update(skip_locked=True)
            .filter(
                Q(status=Prediction.Status.RUNNING, started_at__lt=stuck_running)
                | Q(status=Prediction.Status.QUEUED, started_at__isnull=True, created_at__lt=stuck_queued)
                | Q(status=Prediction.Status.QUEUED, started_at__lt=stuck_queued)
            )
            .values_list("pk", "image__case_id")
        )
        if not stuck:
            return 0
        ids = [pk for pk, _ in stuck]
        Prediction.objects.filter(pk__in=ids).update(status=Prediction.Status.QUEUED, started_at=now)
        for case_id in {case_id for _, case_id in stuck}:
            case_set_status(case_id=case_id, status=CaseStatus.QUEUED)
        transaction.on_commit(lambda: current_app.send_task(RUN_TASK, args=[ids]), robust=True)
    logger.warning("sweeper re-queued %d prediction(s)", len(ids))
    return len(ids)
