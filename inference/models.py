"""Django ORM for inference: registered model versions, stored predictions and try-outs.

Predictions and try-outs share their result columns and status enum (:class:`ScoredResult`)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from cases.models import Image, ImageKind, Site


class ModelVersion(models.Model):
    """One registered model bundle (weights + model card) for a task.

    The active versions of a task are what new cases use; several active
    versions form an ensemble whose probabilities are averaged by ``weight``.
    """

    class Status(models.TextChoices):
        REGISTERED = "registered", "Registered"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    name = models.SlugField(max_length=80)
    version = models.CharField(max_length=40)
    task = models.CharField(max_length=32, db_index=True)
    arch = models.CharField(max_length=40)
    bundle_path = models.CharField(max_length=500, help_text="Folder with weights.safetensors and model.json")
    weights_sha256 = models.CharField(max_length=64)
    class_names = models.JSONField()
    card = models.JSONField(help_text="The bundle's model card as registered.")
    untrained = models.BooleanField(default=False, help_text="Random weights: never shown as a diagnosis.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REGISTERED)
    weight = models.FloatField(default=1.0, help_text="Ensemble weight among the task's active versions.")
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["task", "name", "-created_at"]
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="uniq_model_name_version")]

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}" + (" (untrained)" if self.untrained else "")


class ResultStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ScoredResult(models.Model):
    """What scoring one image leaves behind, shared by a case's prediction and a try-out.

    ``saliency_raw`` is the Grad-CAM map as a 16-bit PNG. Written since
    issue 17 it holds the map at the model's own resolution (a few cells) and
    ``saliency_geometry`` says how to lay it on the original image; the
    full-resolution map and the overlay are rendered when first asked for
    (``inference.scoring``). A row without ``saliency_geometry`` holds a
    full-resolution map, as written before.
    """

    Status = ResultStatus

    status = models.CharField(max_length=16, choices=ResultStatus.choices, default=ResultStatus.QUEUED)
    label = models.CharField(max_length=64, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    probabilities = models.JSONField(default=dict, blank=True)
    uncertainty = models.FloatField(null=True, blank=True, help_text="Normalised entropy in [0, 1].")
    disagreement = models.FloatField(null=True, blank=True, help_text="Between ensemble members.")
    members = models.JSONField(default=list, blank=True)
    untrained = models.BooleanField(default=False)
    saliency_raw = models.FileField(
        max_length=255,
        blank=True,
        help_text="16-bit PNG of the Grad-CAM map: its own cells when saliency_geometry is set, "
        "else (rows from before issue 17) the full-resolution map",
    )
    saliency_geometry = models.JSONField(
        null=True, blank=True, help_text="How the map's cells lie on the original image (SaliencyMap.meta)."
    )
    device = models.CharField(max_length=32, blank=True)
    timings = models.JSONField(
        default=dict,
        blank=True,
        help_text="Milliseconds per image and stage. Forward is one fused pass that yields logits and "
        "Grad-CAM; saliency is combining an ensemble's maps.",
    )
    error = models.TextField(blank=True)
    # The model's input suitability check (oncocore.suitability): an image unlike
    # its training images gets no class (label and confidence stay empty); its
    # probabilities are kept for audit only, never shown as a finding.
    in_scope = models.BooleanField(
        null=True,
        blank=True,
        help_text="False: outside the model's scope, no class given. Empty: the model has no check.",
    )
    scope_ratio = models.FloatField(
        null=True, blank=True, help_text="The check's score over its threshold; above 1 is outside the scope."
    )
    input_stats = models.JSONField(
        null=True,
        blank=True,
        help_text="Simple statistics of the model input (mean, spread, ...), for drift watch.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def out_of_scope(self) -> bool:
        """Outside the model's scope: the image is unlike what the model was trained on."""
        return self.in_scope is False


class Prediction(ScoredResult):
    """The output of the task's active model (or ensemble) for one image.

    ``model_version`` is the ensemble's lead member; every member's output is in
    ``members``. The unique constraint makes a second delivery write nothing twice.
    ``saliency_overlay`` is the rendered overlay, cached on first view.
    """

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="predictions")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="predictions")
    status = models.CharField(
        max_length=16, choices=ResultStatus.choices, default=ResultStatus.QUEUED, db_index=True
    )
    frame = models.PositiveIntegerField(default=0, help_text="Frame the model was run on.")
    saliency_overlay = models.FileField(max_length=255, blank=True)
    # The claim: ``attempts`` counts claims and is the token a run writes its result
    # under; ``worker`` (host:pid) and ``heartbeat_at`` tell the sweeper a run's
    # worker died (inference.claims).
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=120, blank=True, help_text="host:pid of the run that claimed it.")
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last sign of life of that run.")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["image_id", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["image", "model_version"], name="uniq_prediction_image_version")
        ]

    def __str__(self) -> str:
        return f"Prediction {self.pk} of image {self.image_id}: {self.label or self.status}"


class TryOut(ScoredResult):
    """One image run through a task's active model for a quick look, kept for an hour at most.

    Nothing of it is part of a case: the files live under ``storage_prefix``
    (``tryout/<id>/``) and go, files first, when the user discards it, saves it
    as a case, or it expires. Only its owner ever sees it. ``overlay`` is the
    rendered overlay, cached on first view.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tryouts")
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    task = models.CharField(max_length=32, help_text="A Task value with an active model.")
    model_version = models.ForeignKey(
        ModelVersion, null=True, on_delete=models.SET_NULL, related_name="+", help_text="The ensemble's lead."
    )
    original_name = models.CharField(max_length=255, help_text="The uploaded file's name, for display only.")
    kind = models.CharField(max_length=8, choices=ImageKind.choices)
    sha256 = models.CharField(max_length=64, help_text="Of the uploaded bytes: finds an earlier upload.")
    storage_prefix = models.CharField(max_length=100)
    file = models.FileField(max_length=255, help_text="De-identified DICOM, or the stripped image")
    display = models.FileField(max_length=255, help_text="8-bit PNG of the (middle) frame")
    overlay = models.FileField(max_length=255, blank=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "try-out"

    def __str__(self) -> str:
        return f"Try-out {self.pk} ({self.original_name}): {self.label or self.status}"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)
