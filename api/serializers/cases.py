"""The case shapes: the list item (summary) and the detail with its images, predictions, readings and decisions."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers.predictions import PredictionSerializer
from api.serializers.reviews import AdjudicationSerializer, DisputedImageSerializer, ReviewSerializer
from api.views.base import StrictSerializer
from cases.models import Case, CaseStatus, Image, ImageKind, Priority
from cases.services.review import ImageReading, readers_required


def absolute(context: dict[str, Any], path: str) -> str:
    request = context.get("request")
    return request.build_absolute_uri(path) if request is not None else path


def case_url(request: Any, case_id: int) -> str:
    """The absolute API URL of a case (``/api/v1/cases/{id}/``)."""
    return str(request.build_absolute_uri(reverse("api:case_detail", args=[case_id])))


class CaseAiSerializer(serializers.Serializer):
    """The case's AI summary: its most telling image's result."""

    label = serializers.CharField(source="ai_label")  # type: ignore[assignment]  # a field, not Field.label
    confidence = serializers.FloatField(source="ai_confidence", allow_null=True)
    uncertainty = serializers.FloatField(
        source="ai_uncertainty", allow_null=True, help_text="Highest normalised entropy of its images."
    )
    positive = serializers.BooleanField(
        source="ai_positive", help_text="The AI reports a tumour or malignancy."
    )
    untrained = serializers.BooleanField(source="ai_untrained")
    outside_scope = serializers.BooleanField(
        source="ai_outside_scope",
        help_text="Every image with a result is outside the model's scope: the AI gives no finding (label empty).",
    )


class StudyResultSerializer(serializers.Serializer):
    """The study result (docs/study-result.md): one finding for the study, its most suspicious image's."""

    label = serializers.CharField(help_text="The key image's label.")  # type: ignore[assignment]  # a field, not Field.label
    confidence = serializers.FloatField(
        allow_null=True, help_text="The key image's probability of that label."
    )
    probabilities = serializers.DictField(
        child=serializers.FloatField(), help_text="The key image's class probabilities, as it had them."
    )
    positive = serializers.BooleanField(help_text="The label is a positive finding (a tumour, a malignancy).")
    key_image = serializers.IntegerField(
        allow_null=True, help_text="Id of the most suspicious image (null if it was deleted)."
    )
    images = serializers.IntegerField(help_text="Images with a result the finding was chosen from.")
    out_of_scope = serializers.IntegerField(
        help_text="Of those, images outside the model's scope: no class, never the finding."
    )


class CaseFinalSerializer(serializers.Serializer):
    """The decision once a case is reviewed: what the worklist shows instead of the AI label."""

    label = serializers.CharField(  # type: ignore[assignment]  # a field, not Field.label
        help_text="The readers' (or the adjudicating Curator's) class; empty when non-diagnostic."
    )
    non_diagnostic = serializers.BooleanField()
    ai_agreed = serializers.BooleanField(
        allow_null=True,
        help_text="Whether the AI's study result said the same; null when the AI gave no class "
        "(no result, or every image outside the model's scope).",
    )


class CaseSummarySerializer(serializers.Serializer):
    """A case as a list shows it."""

    id = serializers.IntegerField()
    url = serializers.SerializerMethodField()
    site = serializers.CharField(source="site.code")
    task = serializers.CharField()
    task_label = serializers.CharField(source="get_task_display")
    status = serializers.ChoiceField(choices=CaseStatus.choices)
    priority = serializers.ChoiceField(choices=Priority.choices)
    priority_label = serializers.CharField(source="get_priority_display")
    flagged = serializers.BooleanField()
    ai = CaseAiSerializer(source="*")
    study_result = StudyResultSerializer(
        allow_null=True, read_only=True, help_text="Null until an image of the case has a result."
    )
    final = CaseFinalSerializer(
        allow_null=True, read_only=True, help_text="Null until the case is reviewed: then its final label."
    )
    image_count = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    status_changed_at = serializers.DateTimeField()

    @extend_schema_field(serializers.URLField())
    def get_url(self, case: Case) -> str:
        request = self.context.get("request")
        return (
            case_url(request, case.pk) if request is not None else reverse("api:case_detail", args=[case.pk])
        )

    def get_image_count(self, case: Case) -> int:
        # Annotated by the list's selector; counted here otherwise.
        count = getattr(case, "image_count", None)
        return int(count) if count is not None else case.images.count()


class StudyRefSerializer(serializers.Serializer):
    """The study a case holds (the case's images carry its series; studies/{id}/ has the whole study)."""

    id = serializers.IntegerField()
    study_instance_uid = serializers.CharField()
    patient = serializers.CharField(
        source="patient.pseudonym", allow_null=True, help_text="The patient's keyed pseudonym; never an ID."
    )
    is_dicom = serializers.BooleanField()
    study_date = serializers.DateField(allow_null=True)
    modality = serializers.CharField()
    body_part = serializers.CharField()
    description = serializers.CharField()


class SeriesRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    series_instance_uid = serializers.CharField()
    modality = serializers.CharField()
    number = serializers.IntegerField(source="series_number", allow_null=True)
    description = serializers.CharField()


class CaseImageSerializer(serializers.Serializer):
    """One image with its predictions (oldest first), the readings this user may see, and the final decision.

    Needs ``readers_required`` (the case task's policy) and the request in its context.
    """

    id = serializers.IntegerField()
    series = SeriesRefSerializer()
    sop_instance_uid = serializers.CharField()
    instance_number = serializers.IntegerField(allow_null=True)
    kind = serializers.ChoiceField(choices=ImageKind.choices)
    frames = serializers.IntegerField()
    rows = serializers.IntegerField()
    columns = serializers.IntegerField(source="cols")
    pixel_spacing = serializers.SerializerMethodField(
        help_text="Row and column spacing in mm; null if unknown."
    )
    burned_in_annotation = serializers.BooleanField(allow_null=True)
    predictions = PredictionSerializer(many=True, source="predictions.all")
    reviews = serializers.SerializerMethodField(
        help_text="Empty while a blinded double read hides the other readers' labels from you."
    )
    hidden_readings = serializers.SerializerMethodField(
        help_text="Readings by others you may not see until you have read this image."
    )
    adjudication = serializers.SerializerMethodField()

    def _reading(self, image: Image) -> tuple[list[Any], int]:
        reading = ImageReading(
            image_id=image.pk, required=self.context["readers_required"], reviews=list(image.reviews.all())
        )
        if reading.hidden_from(self.context["request"].user):
            return [], len(reading.reviews)
        return reading.reviews, 0

    def get_pixel_spacing(self, image: Image) -> list[float] | None:
        if image.pixel_spacing_row is None or image.pixel_spacing_col is None:
            return None
        return [image.pixel_spacing_row, image.pixel_spacing_col]

    @extend_schema_field(ReviewSerializer(many=True))
    def get_reviews(self, image: Image) -> list[dict[str, Any]]:
        return list(ReviewSerializer(self._reading(image)[0], many=True, context=self.context).data)

    def get_hidden_readings(self, image: Image) -> int:
        return self._reading(image)[1]

    @extend_schema_field(AdjudicationSerializer(allow_null=True))
    def get_adjudication(self, image: Image) -> dict[str, Any] | None:
        decision = getattr(image, "adjudication", None)
        return dict(AdjudicationSerializer(decision, context=self.context).data) if decision else None


class CaseLinksSerializer(serializers.Serializer):
    reviews = serializers.URLField()
    audit = serializers.URLField(help_text="The case's audit trail (admin scope, Curators).")
    retry = serializers.URLField(help_text="POST to re-queue a failed case.")


class CaseDetailSerializer(CaseSummarySerializer):
    """A case with its study, images, predictions, readings and decisions.

    Needs in its context the request, ``images`` (from ``cases.selectors.case_series``)
    and ``readers_required``.
    """

    task_inferred = serializers.BooleanField(help_text="The task was guessed from the DICOM header.")
    flag_reason = serializers.CharField()
    failure_reason = serializers.CharField()
    assignee = serializers.CharField(source="assignee.username", allow_null=True)
    readers_required = serializers.SerializerMethodField(help_text="Independent readings each image needs.")
    study = StudyRefSerializer()
    images = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()

    def get_image_count(self, case: Case) -> int:
        return len(self.context["images"])

    def get_readers_required(self, case: Case) -> int:
        return int(self.context["readers_required"])

    @extend_schema_field(CaseImageSerializer(many=True))
    def get_images(self, case: Case) -> list[dict[str, Any]]:
        return list(CaseImageSerializer(self.context["images"], many=True, context=self.context).data)

    @extend_schema_field(CaseLinksSerializer)
    def get_links(self, case: Case) -> dict[str, str]:
        detail = reverse("api:case_detail", args=[case.pk])
        return {
            "reviews": absolute(self.context, reverse("api:case_reviews", args=[case.pk])),
            "audit": absolute(self.context, f"{detail}audit/"),
            "retry": absolute(self.context, reverse("api:case_retry", args=[case.pk])),
        }


class CaseChangeSerializer(StrictSerializer):
    """What a PATCH of a case may change: its task and its priority (an empty PATCH changes nothing)."""

    # A task of the registry, which a hospital may extend at run time: checked by the service.
    task = serializers.CharField(required=False, max_length=32, help_text="A task key, or 'unassigned'.")
    priority = serializers.ChoiceField(
        choices=Priority.choices, required=False, help_text="0 routine, 1 urgent, 2 STAT."
    )


class AdjudicationQueueItemSerializer(CaseSummarySerializer):
    """A case awaiting adjudication, with the images its readers disagreed on and their readings."""

    disputed = serializers.SerializerMethodField(help_text="The images the readers disagreed on.")

    @extend_schema_field(DisputedImageSerializer(many=True))
    def get_disputed(self, case: Case) -> list[dict[str, Any]]:
        # The number of readers is the task's policy; one look-up per task, not per case.
        required: dict[str, int] = self.context.setdefault("readers_required", {})
        if case.task not in required:
            required[case.task] = readers_required(task=case.task)
        by_image: dict[int, list[Any]] = {}
        for review in sorted(case.reviews.all(), key=lambda r: (r.submitted_at, r.pk)):
            by_image.setdefault(review.image_id, []).append(review)
        decided = {a.image_id for a in case.adjudications.all()}
        readings = [
            ImageReading(image_id=image_id, required=required[case.task], reviews=reviews)
            for image_id, reviews in sorted(by_image.items())
        ]
        return [
            DisputedImageSerializer(
                {"image_id": r.image_id, "reviews": r.reviews, "adjudicated": r.image_id in decided},
                context=self.context,
            ).data
            for r in readings
            if r.disagreement
        ]
