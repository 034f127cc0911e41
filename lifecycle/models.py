"""Model lifecycle: fair comparisons, shadow (champion/challenger) runs, promotions and roll-backs, drift references.

A candidate model version (from a retraining job, or any registered bundle)
is judged against the task's active ensemble (the champion) before a Curator
switches to it:

- :class:`Evaluation`: both scored on the same images of a snapshot's split.
- :class:`ShadowDeployment` / :class:`ShadowPrediction`: the candidate scores
  new cases beside the champion; its results are stored and never shown to
  readers (no reader-facing query reads this table).
- :class:`ModelChange`: each promotion and roll-back, with the ensemble before
  and after and the gate's evidence.
- :class:`DriftReference`: what the model's validation images looked like, to
  compare recent cases against.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from inference.models import ResultStatus, ScoredResult

#: An evaluation's states: the same four as a scored result's.
RunStatus = ResultStatus


class Evaluation(models.Model):
    """A candidate and the champion scored on the same images of one snapshot split, side by side.

    ``champion_members`` freezes the active ensemble at the time the evaluation
    was asked for ({version_id, version, weight} per member, lead first), so a
    later promotion does not change what this evaluation compared. ``results``
    holds each side's metrics, the paired test and the per-image rows.
    """

    Status = RunStatus

    task = models.CharField(max_length=32, db_index=True)
    snapshot = models.ForeignKey("curation.Snapshot", on_delete=models.PROTECT, related_name="evaluations")
    split = models.CharField(max_length=8, default="test", help_text="The snapshot split scored (test).")
    candidate = models.ForeignKey(
        "inference.ModelVersion", on_delete=models.PROTECT, related_name="evaluations_as_candidate"
    )
    champion = models.ForeignKey(
        "inference.ModelVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="evaluations_as_champion",
        help_text="Lead of the active ensemble compared against (empty: the task had none).",
    )
    champion_members = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    error = models.TextField(blank=True)
    results = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        permissions = [("promote_model", "Can promote, roll back and shadow model versions")]

    def __str__(self) -> str:
        return f"Evaluation {self.pk}: {self.candidate} vs {self.champion or 'no champion'} ({self.status})"


class ShadowDeployment(models.Model):
    """A candidate running in shadow on a task's new cases, from ``started_at`` until stopped."""

    task = models.CharField(max_length=32, db_index=True)
    candidate = models.ForeignKey(
        "inference.ModelVersion", on_delete=models.PROTECT, related_name="shadow_deployments"
    )
    note = models.TextField(blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(auto_now_add=True)
    stopped_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["candidate"],
                condition=Q(stopped_at__isnull=True),
                name="uniq_running_shadow_candidate",
            )
        ]

    def __str__(self) -> str:
        return f"Shadow of {self.candidate} on {self.task}" + (" (stopped)" if self.stopped_at else "")

    @property
    def running(self) -> bool:
        return self.stopped_at is None


class ShadowPrediction(ScoredResult):
    """A shadow candidate's result for one image: stored for the Curator, never shown to readers."""

    deployment = models.ForeignKey(ShadowDeployment, on_delete=models.CASCADE, related_name="predictions")
    image = models.ForeignKey("cases.Image", on_delete=models.CASCADE, related_name="shadow_predictions")
    model_version = models.ForeignKey(
        "inference.ModelVersion", on_delete=models.PROTECT, related_name="shadow_predictions"
    )
    status = models.CharField(
        max_length=16, choices=ScoredResult.Status.choices, default=ScoredResult.Status.QUEUED, db_index=True
    )
    frame = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["image_id", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["image", "model_version"], name="uniq_shadow_image_version")
        ]

    def __str__(self) -> str:
        return f"Shadow prediction {self.pk} of image {self.image_id}: {self.label or self.status}"


class ModelChange(models.Model):
    """One switch of a task's active ensemble: a promotion through the gate, or a roll-back."""

    class Kind(models.TextChoices):
        PROMOTE = "promote", "Promoted"
        ROLLBACK = "rollback", "Rolled back"

    task = models.CharField(max_length=32, db_index=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    version = models.ForeignKey(
        "inference.ModelVersion",
        on_delete=models.PROTECT,
        related_name="model_changes",
        help_text="The version made active (the new lead).",
    )
    before = models.JSONField(
        default=list, help_text="The active ensemble before: version_id, version, weight."
    )
    after = models.JSONField(default=list, help_text="The active ensemble after.")
    evaluation = models.ForeignKey(
        Evaluation, on_delete=models.SET_NULL, null=True, blank=True, related_name="model_changes"
    )
    gate = models.JSONField(default=dict, blank=True, help_text="The gate's checks, margins and figures.")
    reason = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.version} on {self.task}"


class DriftReference(models.Model):
    """What a model's validation images looked like: the baseline its recent cases are compared with."""

    model_version = models.OneToOneField(
        "inference.ModelVersion", on_delete=models.CASCADE, related_name="drift_reference"
    )
    source = models.CharField(
        max_length=255, help_text="Where the images came from (snapshot split, data folder)."
    )
    n = models.PositiveIntegerField(default=0)
    stats = models.JSONField(
        default=dict, help_text="Class shares, confidence and image-statistic histograms."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Drift reference of {self.model_version} ({self.n} images)"
