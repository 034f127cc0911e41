from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from cases.task_registry import task_label, validate_model_task


class ReviewDecision(models.TextChoices):
    CONFIRM = "confirm", "Confirmed the AI label"
    CORRECT = "correct", "Corrected the AI label"
    NON_DIAGNOSTIC = "non_diagnostic", "Non-diagnostic image"
    LABEL = "label", "Labelled without an AI result shown"


class Review(models.Model):
    """A reader's label for one image: the labelled example that retraining learns from.

    Everything needed to judge the example later is frozen here (provenance):
    who read it, when and for how long, and what the AI said at that moment
    (label, probabilities, model version), since predictions can be re-run.
    """

    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="reviews")
    image = models.ForeignKey("cases.Image", on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews")
    decision = models.CharField(max_length=16, choices=ReviewDecision.choices)
    label = models.CharField(
        max_length=64, blank=True, help_text="The reader's class; empty when non-diagnostic."
    )
    task = models.CharField(max_length=32)
    note = models.TextField(blank=True)
    # The AI result as the reader saw it.
    ai_label = models.CharField(max_length=64, blank=True)
    ai_probabilities = models.JSONField(default=dict, blank=True)
    ai_model_version = models.CharField(max_length=160, blank=True)
    ai_untrained = models.BooleanField(default=False)
    ai_visible = models.BooleanField(
        default=True,
        help_text="Whether the AI result was shown while this reading was made (False: a blind reading, "
        "or no AI result yet).",
    )
    prediction_ref = models.BigIntegerField(null=True, blank=True, help_text="Id of the prediction shown.")
    opened_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(auto_now_add=True)
    seconds_spent = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-submitted_at", "-pk"]
        constraints = [
            # One reading per reader and image (a second reader is another person), plus, under a
            # task's blind first reading, the one made before the AI was shown.
            models.UniqueConstraint(
                fields=["image", "reviewer", "ai_visible"], name="uniq_review_image_reviewer_visible"
            )
        ]

    def __str__(self) -> str:
        return f"Review of image {self.image_id} by {self.reviewer_id}: {self.label or self.decision}"

    @property
    def awaits_reveal(self) -> bool:
        """A blind first reading: made with an AI result hidden, to be followed by the reader's
        reading once it is shown. It is kept, but it is not the reader's final reading."""
        return not self.ai_visible and self.prediction_ref is not None


class ReviewPolicy(models.Model):
    """How many independent readings a task's images need before a case counts as reviewed.

    With two readers, the second does not see the first's label while reading
    (a blinded double read), and any disagreement goes to a Curator.
    A task without a row needs one reader.
    """

    # The tasks a policy can name: every task a model serves (validated against the registry).
    task = models.CharField(max_length=32, unique=True, validators=[validate_model_task])
    readers_required = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(2)],
        help_text="1: a single reading. 2: two independent readings; disagreements go to adjudication.",
    )
    blind_first_reading = models.BooleanField(
        default=False,
        help_text="Each reader first labels the image without the AI result; it is shown once that "
        "reading is saved, and the reader then confirms or changes their label. Both readings are kept.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["task"]
        verbose_name_plural = "review policies"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(readers_required__gte=1, readers_required__lte=2),
                name="review_policy_readers_1_or_2",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_task_display()}: {self.readers_required} reader(s)"

    def get_task_display(self) -> str:
        return task_label(self.task)


class Adjudication(models.Model):
    """A Curator's final label for an image the readers disagreed on, with what they saw when deciding."""

    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="adjudications")
    image = models.OneToOneField("cases.Image", on_delete=models.CASCADE, related_name="adjudication")
    curator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="adjudications"
    )
    label = models.CharField(
        max_length=64, blank=True, help_text="The final class; empty when non-diagnostic."
    )
    non_diagnostic = models.BooleanField(default=False)
    task = models.CharField(max_length=32)
    note = models.TextField(blank=True)
    # Provenance: the readings weighed (id, reader, label, decision) and the AI result shown.
    readings = models.JSONField(default=list)
    ai_label = models.CharField(max_length=64, blank=True)
    ai_probabilities = models.JSONField(default=dict, blank=True)
    ai_model_version = models.CharField(max_length=160, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(auto_now_add=True)
    seconds_spent = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-decided_at", "-pk"]

    def __str__(self) -> str:
        return f"Adjudication of image {self.image_id} by {self.curator_id}: {self.label or 'non-diagnostic'}"
