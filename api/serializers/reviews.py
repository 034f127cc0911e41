"""Reviews and adjudications: the shapes of a reading, a Curator's decision, and the label request both take."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from api.views.base import StrictSerializer
from cases.models import CaseStatus, ReviewDecision


class ReviewSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    case = serializers.IntegerField(source="case_id")
    image = serializers.IntegerField(source="image_id")
    reviewer = serializers.CharField(source="reviewer.username")
    decision = serializers.ChoiceField(choices=ReviewDecision.choices)
    label = serializers.CharField(help_text="The reader's class; empty when non-diagnostic.")  # type: ignore[assignment]  # a field, not Field.label
    note = serializers.CharField()
    ai_label = serializers.CharField(help_text="The AI's label the reader was shown; empty if none.")
    ai_model_version = serializers.CharField()
    ai_visible = serializers.BooleanField(
        help_text="Whether the AI result was shown while reading: false for a blind first reading "
        "(the task's setting; the reader's reading after the reveal follows) or when there was none."
    )
    submitted_at = serializers.DateTimeField()
    seconds_spent = serializers.FloatField(allow_null=True)


class ReviewCreatedSerializer(ReviewSerializer):
    case_status = serializers.ChoiceField(
        choices=CaseStatus.choices, help_text="The case's status after this reading."
    )


class AdjudicationSerializer(serializers.Serializer):
    """A Curator's final label for an image its readers disagreed on."""

    label = serializers.CharField(help_text="The final class; empty when non-diagnostic.")  # type: ignore[assignment]  # a field, not Field.label
    non_diagnostic = serializers.BooleanField()
    curator = serializers.CharField(source="curator.username")
    note = serializers.CharField()
    decided_at = serializers.DateTimeField()


class AdjudicationCreatedSerializer(AdjudicationSerializer):
    id = serializers.IntegerField()
    case = serializers.IntegerField(source="case_id")
    image = serializers.IntegerField(source="image_id")
    case_status = serializers.ChoiceField(
        choices=CaseStatus.choices, help_text="The case's status after this decision."
    )


class LabelRequestSerializer(StrictSerializer):
    """One image's label, or non-diagnostic: what a reader (or a Curator adjudicating) sends."""

    image = serializers.IntegerField(help_text="An image of this case.")
    label = serializers.CharField(  # type: ignore[assignment]  # a field, not Field.label
        required=False, max_length=64, help_text="One of the task's classes (the prediction's)."
    )
    non_diagnostic = serializers.BooleanField(required=False, default=False)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("label") and attrs.get("non_diagnostic"):
            raise serializers.ValidationError("Send a label or non_diagnostic: true, not both.")
        if not attrs.get("label") and not attrs.get("non_diagnostic"):
            raise serializers.ValidationError("Send a label, or non_diagnostic: true.")
        return attrs


class DisputedImageSerializer(serializers.Serializer):
    image = serializers.IntegerField(source="image_id")
    readings = ReviewSerializer(many=True, source="reviews")
    adjudicated = serializers.BooleanField(help_text="A Curator has decided this image.")
