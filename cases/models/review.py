from django.conf import settings
from django.db import models


class ReviewDecision(models.TextChoices):
    CONFIRM = "confirm", "Confirmed the AI label"
    CORRECT = "correct", "Corrected the AI label"
    NON_DIAGNOSTIC = "non_diagnostic", "Non-diagnostic image"
    LABEL = "label", "Labelled without an AI result"


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
    label = models.CharField(max_length=64, blank=True, help_text="The reader's class; empty when non-diagnostic.")
    task = models.CharField(max_length=32)
    note = models.TextField(blank=True)
    # The AI result as the reader saw it.
    ai_label = models.CharField(max_length=64, blank=True)
    ai_probabilities = models.JSONField(default=dict, blank=True)
    ai_model_version = models.CharField(max_length=160, blank=True)
    ai_untrained = models.BooleanField(default=False)
    prediction_ref = models.BigIntegerField(null=True, blank=True, help_text="Id of the prediction shown.")
    opened_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(auto_now_add=True)
    seconds_spent = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-submitted_at", "-pk"]
        constraints = [
            # One reading per reader and image; a second reader is another person.
            models.UniqueConstraint(fields=["image", "reviewer"], name="uniq_review_image_reviewer")
        ]

    def __str__(self) -> str:
        return f"Review of image {self.image_id} by {self.reviewer_id}: {self.label or self.decision}"
