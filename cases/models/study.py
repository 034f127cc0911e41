from django.db import models

from cases.models.patient import Patient
from cases.models.user import Site


class Study(models.Model):
    """A DICOM study (grouped by StudyInstanceUID), or a plain-image upload given a generated UID."""

    study_instance_uid = models.CharField(max_length=64, unique=True)
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="studies")
    patient = models.ForeignKey(
        Patient, null=True, blank=True, on_delete=models.PROTECT, related_name="studies"
    )
    is_dicom = models.BooleanField(default=True)
    study_date = models.DateField(null=True, blank=True)
    study_time = models.TimeField(null=True, blank=True)
    modality = models.CharField(max_length=16, blank=True)
    body_part = models.CharField(max_length=64, blank=True)
    description = models.CharField(max_length=200, blank=True)
    patient_age = models.CharField(max_length=8, blank=True, help_text="DICOM AS value, e.g. 045Y")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "studies"
        indexes = [
            # QIDO-RS study searches page in this order (dicomweb.qido.search): the first
            # page is read off the index instead of sorting every study of the site.
            models.Index(fields=["-created_at", "-id"], name="study_qido_newest"),
        ]

    def __str__(self) -> str:
        return f"{self.modality or 'IMG'} study {self.study_instance_uid}"


class Series(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    series_instance_uid = models.CharField(max_length=64, unique=True)
    modality = models.CharField(max_length=16, blank=True)
    body_part = models.CharField(max_length=64, blank=True)
    series_number = models.IntegerField(null=True, blank=True)
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["series_number", "pk"]
        verbose_name_plural = "series"

    def __str__(self) -> str:
        return f"Series {self.series_number or '-'} ({self.modality})"
