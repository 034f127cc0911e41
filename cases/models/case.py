from django.conf import settings
from django.db import models

from cases.models.study import Study
from cases.models.user import Site


class Task(models.TextChoices):
    BRAIN_MRI = "brain_mri", "Brain MRI (tumour type)"
    LUNG_CT = "lung_ct", "Lung CT (nodule malignancy)"
    HISTOLOGY = "histology", "Lung histopathology"
    UNASSIGNED = "unassigned", "Unassigned"


# The classes each task's models predict and readers label: the training folders' names.
TASK_CLASSES: dict[str, list[str]] = {
    Task.BRAIN_MRI: ["glioma", "meningioma", "notumor", "pituitary"],
    Task.LUNG_CT: ["benign", "malignant", "normal"],
    Task.HISTOLOGY: ["lung_adenocarcinoma", "lung_benign", "lung_squamous_cell_carcinoma"],
}


class CaseStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    QUEUED = "queued", "Queued"
    PREDICTING = "predicting", "Predicting"
    PREDICTED = "predicted", "Predicted"
    IN_REVIEW = "in_review", "In review"
    REVIEWED = "reviewed", "Reviewed"
    FAILED = "failed", "Failed"


# The lifecycle as data: services check against it, the admin shows it.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    CaseStatus.RECEIVED: frozenset({CaseStatus.QUEUED, CaseStatus.FAILED, CaseStatus.IN_REVIEW}),
    CaseStatus.QUEUED: frozenset({CaseStatus.PREDICTING, CaseStatus.FAILED, CaseStatus.RECEIVED}),
    CaseStatus.PREDICTING: frozenset({CaseStatus.PREDICTED, CaseStatus.FAILED, CaseStatus.QUEUED}),
    CaseStatus.PREDICTED: frozenset({CaseStatus.IN_REVIEW, CaseStatus.REVIEWED, CaseStatus.QUEUED}),
    CaseStatus.IN_REVIEW: frozenset({CaseStatus.REVIEWED, CaseStatus.PREDICTED}),
    CaseStatus.REVIEWED: frozenset({CaseStatus.IN_REVIEW, CaseStatus.QUEUED}),
    CaseStatus.FAILED: frozenset({CaseStatus.QUEUED, CaseStatus.RECEIVED}),
}


class Priority(models.IntegerChoices):
    ROUTINE = 0, "Routine"
    URGENT = 1, "Urgent"
    STAT = 2, "STAT"


class Case(models.Model):
    """The unit of work: one study (or one plain-image upload) to predict and review."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="cases")
    study = models.OneToOneField(Study, on_delete=models.PROTECT, related_name="case")
    task = models.CharField(max_length=32, choices=Task.choices, default=Task.UNASSIGNED)
    task_inferred = models.BooleanField(
        default=False, help_text="True when the task was guessed from the DICOM header."
    )
    status = models.CharField(max_length=16, choices=CaseStatus.choices, default=CaseStatus.RECEIVED)
    priority = models.SmallIntegerField(choices=Priority.choices, default=Priority.ROUTINE)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_cases",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="created_cases",
    )
    flagged = models.BooleanField(default=False, help_text="Needs attention, e.g. burned-in annotation.")
    flag_reason = models.CharField(max_length=300, blank=True)
    failure_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    status_changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-priority", "-created_at"]
        indexes = [
            models.Index(fields=["site", "status"]),
            models.Index(fields=["task", "status"]),
        ]
        permissions = [
            ("upload_study", "Can upload studies"),
            ("review_case", "Can review cases"),
            ("adjudicate_case", "Can adjudicate disagreements"),
            ("view_all_sites", "Can see cases of every site"),
            ("use_api", "Can use the REST and DICOM API"),
        ]

    def __str__(self) -> str:
        return f"Case {self.pk} ({self.get_task_display()}, {self.status})"
