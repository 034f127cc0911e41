"""Labelled examples a Curator curates, and the immutable snapshots frozen from them.

An :class:`Example` is one image with a final label, kept in step with the
readings (a review, a double read, an adjudication) or imported from the base
data. A :class:`Snapshot` freezes the included examples of one task, with a
deterministic group-wise train/validation/test split, into rows that never
change (the database refuses updates, see the migrations).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from oncocore.datasets.manifest import ManifestRow
from oncoportal.exceptions import TransitionNotAllowed


class Provenance(models.TextChoices):
    """Where an example's final label came from."""

    AI_CONFIRMED = "ai_confirmed", "AI confirmed"
    CORRECTED = "corrected", "Corrected"
    ADJUDICATED = "adjudicated", "Adjudicated"
    NON_DIAGNOSTIC = "non_diagnostic", "Non-diagnostic"
    LABELLED = "labelled", "Labelled without AI"
    BASE = "base", "Base data"


class Example(models.Model):
    """One labelled image: what retraining learns from, with the Curator's include/exclude decision."""

    image = models.OneToOneField("cases.Image", on_delete=models.CASCADE, related_name="example")
    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="examples")
    site = models.ForeignKey("cases.Site", on_delete=models.PROTECT, related_name="examples")
    task = models.CharField(max_length=32)
    label = models.CharField(
        max_length=64, blank=True, help_text="The final class; empty when non-diagnostic."
    )
    provenance = models.CharField(max_length=16, choices=Provenance.choices)
    disagreement = models.BooleanField(default=False, help_text="The readers gave different labels.")
    readers = models.PositiveSmallIntegerField(default=0)
    model_version = models.CharField(
        max_length=160, blank=True, help_text="The AI model version the readers saw (empty: none)."
    )
    group = models.CharField(
        max_length=128,
        help_text="Images of one group never straddle splits: patient pseudonym or base group.",
    )
    source_path = models.CharField(
        max_length=255, blank=True, help_text="Base data: the image's path in its data folder."
    )
    labelled_at = models.DateTimeField()
    included = models.BooleanField(default=True)
    exclusion_reason = models.TextField(blank=True)
    curated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    curated_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-labelled_at", "-pk"]
        indexes = [
            models.Index(fields=["task", "included", "label"], name="example_task_included"),
            models.Index(fields=["labelled_at"], name="example_labelled_at"),
        ]
        permissions = [("curate_dataset", "Can curate labelled images, freeze snapshots and retrain")]

    def __str__(self) -> str:
        return f"Example of image {self.image_id}: {self.label or 'non-diagnostic'}"


class Split(models.TextChoices):
    TRAIN = "train", "Train"
    VAL = "val", "Validation"
    TEST = "test", "Test"


class SnapshotImmutable(TransitionNotAllowed):
    """A frozen snapshot or one of its items was about to change."""


IMMUTABLE_MESSAGE = "Snapshots are immutable: freeze a new version instead of changing one."


class _FrozenQuerySet(models.QuerySet[Any]):
    """No bulk UPDATE path (the database triggers refuse one too); DELETE stays possible."""

    def update(self, **kwargs: Any) -> int:
        raise SnapshotImmutable(IMMUTABLE_MESSAGE)

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> int:
        raise SnapshotImmutable(IMMUTABLE_MESSAGE)


class _Frozen(models.Model):
    """A row written once: ``save()`` of an existing row raises."""

    objects = _FrozenQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise SnapshotImmutable(IMMUTABLE_MESSAGE)
        super().save(*args, **kwargs)


class Snapshot(_Frozen):
    """A frozen, versioned dataset of one task: its items never change once written.

    ``content_hash`` is a SHA-256 over the split parameters and the sorted
    manifest lines, so the same inputs give the same split and the same hash.
    The manifest file is written before this row.
    """

    task = models.CharField(max_length=32)
    version = models.PositiveIntegerField(help_text="1, 2, ... per task.")
    name = models.CharField(max_length=100, unique=True)
    note = models.TextField(blank=True)
    content_hash = models.CharField(max_length=64, db_index=True)
    seed = models.IntegerField(default=0)
    val_fraction = models.FloatField(default=0.15)
    test_fraction = models.FloatField(default=0.15)
    include_base = models.BooleanField(default=True, help_text="Base data merged with the reviewed cases.")
    class_names = models.JSONField(default=list)
    counts = models.JSONField(default=dict, help_text="{split: {class: images}}")
    manifest = models.FileField(max_length=255, help_text="manifest.csv as frozen.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(_Frozen.Meta):
        ordering = ["-created_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["task", "version"], name="uniq_snapshot_task_version")]

    def __str__(self) -> str:
        return self.name

    @property
    def size(self) -> int:
        return sum(sum(c.values()) for c in self.counts.values())


class SnapshotItem(_Frozen):
    """One image of a snapshot, as frozen: the bytes' hash, label, group, provenance and split."""

    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="items")
    image = models.ForeignKey("cases.Image", on_delete=models.PROTECT, related_name="snapshot_items")
    sha256 = models.CharField(
        max_length=64, help_text="Of the exported file (the stored, de-identified bytes)."
    )
    label = models.CharField(max_length=64)
    group = models.CharField(max_length=128)
    provenance = models.CharField(max_length=16, choices=Provenance.choices)
    split = models.CharField(max_length=8, choices=Split.choices)
    path = models.CharField(max_length=255, help_text="Path inside the export: <split>/<label>/<file>.")

    class Meta(_Frozen.Meta):
        ordering = ["snapshot_id", "path"]
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "image"], name="uniq_snapshot_item_image"),
            models.UniqueConstraint(fields=["snapshot", "path"], name="uniq_snapshot_item_path"),
        ]

    def __str__(self) -> str:
        return f"{self.snapshot_id}:{self.path}"

    def as_manifest_row(self) -> ManifestRow:
        """The item as ``manifest.csv`` lists it."""
        return ManifestRow(
            path=self.path,
            label=self.label,
            split=self.split,
            group=self.group,
            sha256=self.sha256,
            image_id=self.image_id,
            provenance=self.provenance,
        )
