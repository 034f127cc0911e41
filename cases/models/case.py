from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Value
from django.db.models.functions import Coalesce

from cases.models.study import Study
from cases.models.user import Site
from cases.task_registry import task_label, validate_case_task
from oncocore import tasks

# Uncertainty for ordering: cases without a prediction rank after every predicted
# one. An expression rather than NULLS LAST, which SQLite indexes cannot hold.
UNCERTAINTY_RANK = Coalesce(F("ai_uncertainty"), Value(-1.0))


class Task(models.TextChoices):
    """The built-in tasks' keys, for code that names one; the registry (``cases.task_registry``) lists them all.

    Keys and labels come from ``oncocore.tasks``, the one definition; a task
    added as data (a hospital's model card) has no constant here.
    """

    BRAIN_MRI = tasks.BRAIN_MRI.key, tasks.BRAIN_MRI.label
    LUNG_CT = tasks.LUNG_CT.key, tasks.LUNG_CT.label
    HISTOLOGY = tasks.HISTOLOGY.key, tasks.HISTOLOGY.label
    UNASSIGNED = tasks.UNASSIGNED, tasks.UNASSIGNED_LABEL


class CaseStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    QUEUED = "queued", "Queued"
    PREDICTING = "predicting", "Predicting"
    PREDICTED = "predicted", "Predicted"
    IN_REVIEW = "in_review", "In review"
    ADJUDICATION = "adjudication", "Awaiting adjudication"
    REVIEWED = "reviewed", "Reviewed"
    FAILED = "failed", "Failed"


# The lifecycle as data: services check against it, the admin shows it.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    CaseStatus.RECEIVED: frozenset({CaseStatus.QUEUED, CaseStatus.FAILED, CaseStatus.IN_REVIEW}),
    CaseStatus.QUEUED: frozenset({CaseStatus.PREDICTING, CaseStatus.FAILED, CaseStatus.RECEIVED}),
    CaseStatus.PREDICTING: frozenset({CaseStatus.PREDICTED, CaseStatus.FAILED, CaseStatus.QUEUED}),
    CaseStatus.PREDICTED: frozenset({CaseStatus.IN_REVIEW, CaseStatus.REVIEWED, CaseStatus.QUEUED}),
    CaseStatus.IN_REVIEW: frozenset({CaseStatus.REVIEWED, CaseStatus.PREDICTED, CaseStatus.ADJUDICATION}),
    # Two readers disagreed: only a Curator's decision moves the case on.
    CaseStatus.ADJUDICATION: frozenset({CaseStatus.REVIEWED}),
    CaseStatus.REVIEWED: frozenset({CaseStatus.IN_REVIEW, CaseStatus.QUEUED}),
    CaseStatus.FAILED: frozenset({CaseStatus.QUEUED, CaseStatus.RECEIVED}),
}


# Statuses whose readings are in: reviewed, or read and waiting for a Curator's decision.
READ_STATUSES = [CaseStatus.REVIEWED, CaseStatus.ADJUDICATION]
# 1 for a case still to be read, 0 once its readings are in: "Findings first" puts unread cases
# first, so a reviewed case no longer rises by its AI label or uncertainty.
UNREAD_RANK = models.Case(
    models.When(status__in=READ_STATUSES, then=Value(0)), default=Value(1), output_field=models.IntegerField()
)

# Cases a reader can pick up next (``cases.selectors.next_case_for_review``).
REVIEW_QUEUE_STATUSES = [CaseStatus.PREDICTED, CaseStatus.IN_REVIEW]


class Priority(models.IntegerChoices):
    ROUTINE = 0, "Routine"
    URGENT = 1, "Urgent"
    STAT = 2, "STAT"


class Case(models.Model):
    """The unit of work: one study (or one plain-image upload) to predict and review."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="cases")
    study = models.OneToOneField(Study, on_delete=models.PROTECT, related_name="case")
    # No choices: the registry decides, and it grows when a hospital adds a task as data.
    task = models.CharField(max_length=32, default=Task.UNASSIGNED, validators=[validate_case_task])
    task_inferred = models.BooleanField(
        default=False, help_text="True when the task was guessed from the DICOM header."
    )
    task_reason = models.CharField(
        max_length=300,
        blank=True,
        help_text="How the header routed the task: the rule that matched, or that none did (docs/routing.md).",
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
    # The AI summary of the case, kept by the inference pipeline when
    # predictions finish, so the worklist can sort and filter on it cheaply.
    ai_label = models.CharField(max_length=64, blank=True, db_index=True)
    ai_confidence = models.FloatField(null=True, blank=True)
    ai_uncertainty = models.FloatField(
        null=True, blank=True, help_text="Highest normalised entropy of its images."
    )
    ai_positive = models.BooleanField(default=False, help_text="The AI reports a tumour or malignancy.")
    ai_untrained = models.BooleanField(default=False)
    # The study result (oncocore.study_result, docs/study-result.md): the key
    # (most suspicious) image and the class probabilities it had, as given.
    ai_probabilities = models.JSONField(
        default=dict, blank=True, help_text="The key image's class probabilities."
    )
    ai_key_image = models.ForeignKey(
        "cases.Image",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The most suspicious image: the one the study result comes from.",
    )
    ai_images = models.PositiveIntegerField(
        default=0, help_text="Images with a result behind the study result."
    )
    # The readers' (or the Curator's) decision, set when the case becomes reviewed
    # (cases.services.review.study_final_label); "" with status reviewed is non-diagnostic.
    final_label = models.CharField(max_length=64, blank=True)
    ai_out_of_scope = models.PositiveIntegerField(
        default=0, help_text="Of those, images outside the model's scope (no class, never a finding)."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    status_changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-priority", "-created_at"]
        indexes = [
            models.Index(fields=["site", "status"]),
            models.Index(fields=["task", "status"]),
            # The worklist's two main orders (cases.selectors.WORKLIST_ORDERINGS),
            # per site and across sites: a page is read off the index, not sorted.
            *[
                models.Index(*prefix, *order, name=f"case_worklist_{name}_{scope}")
                for scope, prefix in (("site", [F("site")]), ("all", []))
                for name, order in (
                    (
                        "findings",
                        [
                            F("priority").desc(),
                            UNREAD_RANK.desc(),
                            F("ai_positive").desc(),
                            UNCERTAINTY_RANK.desc(),
                            F("created_at").desc(),
                            F("id").desc(),
                        ],
                    ),
                    (
                        "uncertain",
                        [UNCERTAINTY_RANK.desc(), F("created_at").desc(), F("id").desc()],
                    ),
                )
            ],
            # The next case waiting for a reader: most urgent, then oldest.
            *[
                models.Index(
                    *prefix,
                    F("priority").desc(),
                    F("created_at"),
                    F("id"),
                    name=f"case_review_queue_{scope}",
                    condition=models.Q(status__in=REVIEW_QUEUE_STATUSES),
                )
                for scope, prefix in (("site", [F("site")]), ("all", []))
            ],
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

    @property
    def study_result(self) -> dict[str, Any] | None:
        """The study result as the API and webhooks carry it; None until an image has a result."""
        if not self.ai_images:
            return None
        return {
            "label": self.ai_label,
            "confidence": self.ai_confidence,
            "probabilities": self.ai_probabilities,
            "positive": self.ai_positive,
            "key_image": self.ai_key_image_id,
            "images": self.ai_images,
            "out_of_scope": self.ai_out_of_scope,
        }

    @property
    def final(self) -> dict[str, Any] | None:
        """The decision once the case is reviewed: its label ("" non-diagnostic) and whether the AI agreed."""
        if self.status != CaseStatus.REVIEWED:
            return None
        return {
            "label": self.final_label,
            "non_diagnostic": self.final_label == "",
            # No AI class to agree with: no result, or every result outside the model's scope.
            "ai_agreed": self.final_label == self.ai_label
            if self.ai_images and not self.ai_outside_scope
            else None,
        }

    @property
    def ai_outside_scope(self) -> bool:
        """Every image with a result is outside the model's scope: the AI gives no finding for this case."""
        return self.ai_images > 0 and self.ai_out_of_scope == self.ai_images

    def get_task_display(self) -> str:
        """The task's label, from the registry (what ``choices`` gave before tasks became data)."""
        return task_label(self.task)
