"""AI and review results as DICOM objects (SR, Secondary Capture), where they go, and how sending went.

* :class:`Destination`: a PACS a Curator set up (DIMSE AE/host/port, or a STOW-RS
  URL with its auth) for one site or all of them.
* :class:`StudyIdentity`: what re-identifies a study (``oncocore.imaging.identity``),
  encrypted with ``ONCOPORTAL_REID_KEY``; kept only for a site with a destination.
* :class:`ResultObject`: one built object, stored de-identified like every
  instance (file first, then the row); WADO-RS serves it.
* :class:`ResultDelivery`: one object to one destination, with its attempts.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator
from django.db import models

from api.models.webhooks import OPEN_STATUSES, DeliveryStatus

__all__ = [
    "OPEN_STATUSES",
    "DeliveryStatus",
    "Destination",
    "ResultDelivery",
    "ResultKind",
    "ResultObject",
    "StudyIdentity",
]

stow_url_validator = URLValidator(schemes=["http", "https"], message="Enter an http:// or https:// URL.")


class Destination(models.Model):
    """A PACS (or any DICOM node) that receives the platform's result objects."""

    class Kind(models.TextChoices):
        DIMSE = "dimse", "DIMSE C-STORE"
        STOW = "stow", "DICOMweb STOW-RS"

    class Auth(models.TextChoices):
        NONE = "none", "None"
        BASIC = "basic", "HTTP Basic"
        BEARER = "bearer", "Bearer token"

    name = models.CharField(max_length=100, unique=True, help_text="e.g. 'Main PACS'.")
    site = models.ForeignKey(
        "cases.Site",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="result_destinations",
        help_text="Only this site's studies; empty for every site.",
    )
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.DIMSE)
    # DIMSE
    ae_title = models.CharField(max_length=16, blank=True, help_text="The PACS's (called) AE title.")
    host = models.CharField(max_length=255, blank=True)
    port = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    calling_ae_title = models.CharField(
        max_length=16, blank=True, help_text="Ours, as the PACS knows us; empty: ONCOPORTAL_DICOM_AE_TITLE."
    )
    # STOW-RS
    url = models.URLField(
        max_length=500,
        blank=True,
        validators=[stow_url_validator],
        help_text="The DICOMweb base URL; objects are POSTed to <url>/studies.",
    )
    auth = models.CharField(max_length=8, choices=Auth.choices, default=Auth.NONE)
    username = models.CharField(max_length=150, blank=True)
    # Encrypted with ONCOPORTAL_REID_KEY (results.identity); never shown again once set.
    secret_encrypted = models.TextField(blank=True, editable=False)
    send_ai_results = models.BooleanField(
        default=True, help_text="Secondary Capture overlays and the AI SR, as soon as a prediction finishes."
    )
    send_review_results = models.BooleanField(
        default=True, help_text="The SR with the final label after review or adjudication."
    )
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def address(self) -> str:
        if self.kind == self.Kind.DIMSE:
            return f"{self.ae_title}@{self.host}:{self.port}"
        return self.url


class StudyIdentity(models.Model):
    """The study's original identity (patient, accession...), encrypted; only where a destination needs it."""

    study = models.OneToOneField("cases.Study", on_delete=models.CASCADE, related_name="identity")
    encrypted = models.TextField(help_text="Fernet token (ONCOPORTAL_REID_KEY) of the identity's JSON.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "study identities"

    def __str__(self) -> str:
        return f"Identity of study {self.study_id} (encrypted)"


class ResultKind(models.TextChoices):
    SALIENCY_SC = "sc", "Saliency overlays (Secondary Capture)"
    AI_SR = "ai_sr", "AI result SR (not reviewed)"
    REVIEW_SR = "review_sr", "Review SR (final label)"


class ResultObject(models.Model):
    """One DICOM object the platform made for a case, stored de-identified (re-identified only on sending)."""

    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="result_objects")
    kind = models.CharField(max_length=12, choices=ResultKind.choices)
    study_instance_uid = models.CharField(max_length=64, db_index=True)
    series_instance_uid = models.CharField(max_length=64, db_index=True)
    sop_instance_uid = models.CharField(max_length=64, unique=True)
    sop_class_uid = models.CharField(max_length=64)
    series_number = models.IntegerField(null=True, blank=True)
    instance_number = models.IntegerField(null=True, blank=True)
    file = models.FileField(max_length=255)
    sha256 = models.CharField(max_length=64)
    file_size = models.BigIntegerField(default=0)
    source = models.JSONField(
        default=dict, blank=True, help_text="What it was built from: prediction ids, review or adjudication."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["case_id", "series_number", "instance_number", "pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.sop_instance_uid}"


class ResultDelivery(models.Model):
    """One result object to one destination: its status and every attempt."""

    result = models.ForeignKey(ResultObject, on_delete=models.CASCADE, related_name="deliveries")
    destination = models.ForeignKey(Destination, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status = models.CharField(
        max_length=16, blank=True, help_text="The DICOM status (0x0000) or the HTTP status of the last try."
    )
    last_error = models.CharField(max_length=500, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    log = models.JSONField(default=list, blank=True, help_text="Every attempt: when, outcome, detail.")
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "result deliveries"
        constraints = [
            models.UniqueConstraint(fields=["result", "destination"], name="uniq_result_delivery"),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="result_delivery_due",
                condition=models.Q(status__in=OPEN_STATUSES),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.result} → {self.destination} ({self.status})"
