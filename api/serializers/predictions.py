"""The prediction shape: one image's AI result, with links to its saliency files when it has a map."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from inference.models import Prediction, ResultStatus


def prediction_file_url(context: dict[str, Any], prediction: Prediction, kind: str) -> str | None:
    """The absolute API URL of a prediction's 'overlay' or 'saliency' PNG; None when it has no map."""
    if not prediction.saliency_raw:
        return None
    path = reverse(f"api:prediction_{kind}", args=[prediction.pk])
    request = context.get("request")
    return request.build_absolute_uri(path) if request is not None else path


class ModelVersionRefSerializer(serializers.Serializer):
    """The model version that made a prediction (the ensemble's lead member)."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    version = serializers.CharField()
    untrained = serializers.BooleanField()


class PredictionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    case = serializers.IntegerField(source="image.case_id")
    image = serializers.IntegerField(source="image_id")
    status = serializers.ChoiceField(choices=ResultStatus.choices)
    label = serializers.CharField(  # type: ignore[assignment]  # a field, not Field.label
        help_text="The predicted class; empty until done, and empty when the image is outside the model's scope."
    )
    confidence = serializers.FloatField(allow_null=True)
    probabilities = serializers.DictField(
        child=serializers.FloatField(),
        help_text="Class name -> probability. Outside the model's scope (in_scope false) these are kept "
        "for audit only and are not a finding.",
    )
    in_scope = serializers.BooleanField(
        allow_null=True,
        help_text="The model's input suitability check: false means the image is outside the model's scope "
        "(unlike its training images) and gets no class; null when the model has no check or no result yet.",
    )
    scope_ratio = serializers.FloatField(
        allow_null=True, help_text="The check's score over its threshold; above 1 is outside the scope."
    )
    uncertainty = serializers.FloatField(allow_null=True, help_text="Normalised entropy in [0, 1].")
    disagreement = serializers.FloatField(allow_null=True, help_text="Between ensemble members.")
    members = serializers.ListField(
        child=serializers.DictField(), help_text="Each ensemble member's version, weight and probabilities."
    )
    model_version = ModelVersionRefSerializer()
    untrained = serializers.BooleanField(help_text="Random weights: never a diagnosis.")
    device = serializers.CharField()
    timings = serializers.DictField(help_text="Milliseconds per stage.")
    frame = serializers.IntegerField(help_text="Frame the model was run on.")
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    saliency_url = serializers.SerializerMethodField(help_text="Full-resolution 16-bit Grad-CAM map (PNG).")
    overlay_url = serializers.SerializerMethodField(help_text="The map laid over the image (PNG).")

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_saliency_url(self, prediction: Prediction) -> str | None:
        return prediction_file_url(self.context, prediction, "saliency")

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_overlay_url(self, prediction: Prediction) -> str | None:
        return prediction_file_url(self.context, prediction, "overlay")
