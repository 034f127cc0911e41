import uuid

from django.conf import settings
from django.db import models


class IntakeBatch(models.Model):
    """One upload (web, CLI, API or DIMSE association) and its report of accepted and rejected files."""

    class Source(models.TextChoices):
        WEB = "web", "Web upload"
        CLI = "cli", "Command line"
        API = "api", "REST API"
        DICOMWEB = "dicomweb", "DICOMweb STOW-RS"
        DIMSE = "dimse", "DICOM C-STORE"
        DEMO = "demo", "Demo data"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    site = models.ForeignKey("cases.Site", on_delete=models.PROTECT, related_name="intake_batches")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=16, choices=Source.choices)
    requested_task = models.CharField(max_length=32, blank=True)
    accepted_count = models.PositiveIntegerField(default=0)
    duplicate_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "intake batches"

    def __str__(self) -> str:
        return (
            f"{self.get_source_display()} {self.created_at:%Y-%m-%d %H:%M}: "
            f"{self.accepted_count} accepted, {self.duplicate_count} duplicate, {self.rejected_count} rejected"
        )
