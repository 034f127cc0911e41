"""Retraining jobs: a snapshot in, a candidate model version (registered, not active) out."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    CANCELLING = "cancelling", "Cancelling"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"
    SUCCEEDED = "succeeded", "Succeeded"


#: A job in one of these is over: nothing will change it again.
FINISHED_STATUSES = (JobStatus.CANCELLED, JobStatus.FAILED, JobStatus.SUCCEEDED)


class JobMode(models.TextChoices):
    FINETUNE = "finetune", "Fine-tune the active model"
    FRESH = "fresh", "Train afresh"


class TrainingJob(models.Model):
    """One retraining run on the ``training`` queue, with its live progress.

    The run directory holds the checkpoints; a worker that dies mid-job leaves
    the job RUNNING with a stale heartbeat, and the sweeper queues it again to
    resume from the last checkpoint.
    """

    snapshot = models.ForeignKey("curation.Snapshot", on_delete=models.PROTECT, related_name="training_jobs")
    task = models.CharField(max_length=32)
    mode = models.CharField(max_length=16, choices=JobMode.choices, default=JobMode.FINETUNE)
    recipe = models.CharField(max_length=32)
    base_version = models.ForeignKey(
        "inference.ModelVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="finetune_jobs",
        help_text="The model fine-tuned (fine-tune mode).",
    )
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="Host and pid of the worker running it.")
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Starts, resumes included.")
    resumed_from_epoch = models.IntegerField(null=True, blank=True)
    # Live progress, as the trainer reports it (its progress file).
    phase = models.CharField(
        max_length=16,
        blank=True,
        help_text="preparing, loading, training, validating, testing, exporting, done.",
    )
    epoch = models.IntegerField(default=0, help_text="Epochs done.")
    epochs = models.IntegerField(default=0)
    step = models.IntegerField(default=0)
    steps = models.IntegerField(default=0, help_text="Steps per epoch.")
    train_loss = models.FloatField(null=True, blank=True)
    val_metrics = models.JSONField(default=dict, blank=True)
    eta_seconds = models.FloatField(null=True, blank=True)
    history = models.JSONField(default=list, blank=True, help_text="One record per epoch, for the curve.")
    run_dir = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)
    result_version = models.OneToOneField(
        "inference.ModelVersion",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="training_job",
        help_text="The candidate model version this job registered (not active).",
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="trainingjob_status_heartbeat")]

    def __str__(self) -> str:
        return f"Training job {self.pk} ({self.task}, {self.status})"

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES
