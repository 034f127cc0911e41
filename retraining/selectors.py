"""Reads of retraining jobs: the list, one job's progress as the page and its JSON show it, form choices."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from curation.models import Snapshot
from inference.models import ModelVersion
from oncocore.training.recipes import recipes
from retraining.models import JobStatus, TrainingJob

#: What the page calls each trainer phase (the progress file's ``phase``).
PHASES = {
    "": "Waiting for a training worker",
    "preparing": "Copying the snapshot",
    "loading": "Loading images",
    "training": "Training",
    "validating": "Validating",
    "testing": "Testing",
    "exporting": "Exporting the model",
    "done": "Done",
}


def job_list() -> QuerySet[TrainingJob]:
    return TrainingJob.objects.select_related("snapshot", "base_version", "result_version", "created_by")


def recipe_choices() -> list[tuple[str, str]]:
    """(name, description) of every training recipe, for the start form and the command's help."""
    return sorted(recipes().items())


def snapshot_choices() -> QuerySet[Snapshot]:
    return Snapshot.objects.order_by("task", "-version")


def base_version_choices() -> QuerySet[ModelVersion]:
    """Model versions a fine-tune may start from (the job checks the task)."""
    return ModelVersion.objects.order_by("task", "-created_at")


def job_fraction_done(job: TrainingJob) -> float:
    """0..1 of the planned steps done (epochs and steps per epoch as the trainer reports them)."""
    if job.status == JobStatus.SUCCEEDED:
        return 1.0
    if job.epochs <= 0:
        return 0.0
    within = job.step / job.steps if job.steps > 0 else 0.0
    return max(0.0, min(1.0, (job.epoch + min(within, 1.0)) / job.epochs))


def job_phase_label(job: TrainingJob) -> str:
    if job.finished:
        return job.get_status_display()
    if job.status == JobStatus.CANCELLING:
        return "Cancelling"
    if job.status == JobStatus.QUEUED:
        return "Queued, resuming" if job.attempts else "Queued"
    return PHASES.get(job.phase, job.phase.capitalize())


def curve_points(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per epoch: train loss and validation macro-F1 / accuracy (the curve's data)."""
    points = []
    for record in history:
        epoch = record.get("epoch")
        if not isinstance(epoch, int):
            continue
        points.append(
            {
                "epoch": epoch + 1,  # epochs done, as the page counts them
                "train_loss": record.get("train_loss"),
                "val_macro_f1": record.get("val_macro_f1"),
                "val_accuracy": record.get("val_accuracy"),
            }
        )
    return points


def job_progress(job: TrainingJob) -> dict[str, Any]:
    """One job's state and progress: the JSON the page polls, and the page's own numbers."""
    val = job.val_metrics or {}
    return {
        "id": job.pk,
        "status": job.status,
        "status_display": job.get_status_display(),
        "finished": job.finished,
        "phase": job.phase,
        "phase_display": job_phase_label(job),
        "epoch": job.epoch,
        "epochs": job.epochs,
        "step": job.step,
        "steps": job.steps,
        "fraction": round(job_fraction_done(job), 4),
        "train_loss": job.train_loss,
        "val_macro_f1": val.get("macro_f1"),
        "val_accuracy": val.get("accuracy"),
        "eta_seconds": job.eta_seconds,
        "attempts": job.attempts,
        "resumed_from_epoch": job.resumed_from_epoch,
        "error": job.error,
        "history": curve_points(job.history or []),
        "result_version": job.result_version.label if job.result_version else None,
        "result_version_status": job.result_version.status if job.result_version else None,
        "heartbeat_at": job.heartbeat_at.isoformat() if job.heartbeat_at else None,
    }
