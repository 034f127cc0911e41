"""Studies: upload them (the web page's intake and upload guard, as an API), and read those you may see."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NoReturn

from django.core.files.uploadedfile import UploadedFile
from django.http import Http404
from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.errors import FieldErrors, TooLarge
from api.models import Scope
from api.pagination import NewestFirstCursor
from api.schema import errors, example, path_id
from api.serializers.cases import case_url
from api.views.base import AuthenticatedRequest, api_audit
from api.views.uploads import EXAMPLE_REPORT, UploadReportSerializer, upload_report_body
from cases.forms import UploadForm
from cases.models import IntakeBatch, Study, User
from cases.selectors import study_list_for_user
from cases.services.intake import intake_sources
from oncoportal.http import UploadMessages, upload_guard

UPLOAD_FIELDS = {"files", "task", "patient_ref", "site"}
NO_UPLOAD = "Your role cannot upload studies. Radiologists, Curators and integrations can."
UPLOAD_MESSAGES = UploadMessages(
    too_large="This upload is {size}, over the {limit} limit for one request. Nothing was stored. "
    "Send the files in smaller groups."
)

STUDY_ID = path_id("The study's id.")


def _too_large(status: int, message: str) -> NoReturn:
    # With csrf and parse off, the guard refuses for the size alone.
    raise TooLarge(message)


class UploadStudiesForm(UploadForm):
    """The upload page's form; ``site`` (for accounts without one) is a site code here, not a key."""

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, user=user, **kwargs)
        if "site" in self.fields:
            self.fields["site"].to_field_name = "code"  # type: ignore[attr-defined]


def _read_each(labelled: list[tuple[str, UploadedFile]]) -> Iterator[tuple[str, bytes]]:
    # One file in memory at a time: intake consumes the uploads lazily.
    for label, upload_file in labelled:
        upload_file.seek(0)
        yield label, upload_file.read()


class ImageRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    instance_number = serializers.IntegerField(allow_null=True)


class SeriesSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    series_instance_uid = serializers.CharField()
    series_number = serializers.IntegerField(allow_null=True)
    modality = serializers.CharField(allow_blank=True)
    body_part = serializers.CharField(allow_blank=True)
    description = serializers.CharField(allow_blank=True)
    images = ImageRefSerializer(many=True)


class CaseRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()


class StudySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()
    study_instance_uid = serializers.CharField(help_text="Generated (2.25.…) for plain-image uploads.")
    patient = serializers.CharField(allow_null=True, help_text="The patient's keyed pseudonym; never an ID.")
    site = serializers.CharField(help_text="The site code.")
    is_dicom = serializers.BooleanField()
    modality = serializers.CharField(allow_blank=True)
    body_part = serializers.CharField(allow_blank=True)
    description = serializers.CharField(allow_blank=True)
    study_date = serializers.DateField(allow_null=True)
    study_time = serializers.TimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    case = CaseRefSerializer()
    series = SeriesSerializer(many=True)


def study_body(request: AuthenticatedRequest, study: Study) -> dict[str, Any]:
    """A study of ``study_list_for_user`` (its series and image ids prefetched)."""
    return {
        "id": study.pk,
        "url": request.build_absolute_uri(reverse("api:study_detail", kwargs={"pk": study.pk})),
        "study_instance_uid": study.study_instance_uid,
        "patient": study.patient.pseudonym if study.patient else None,
        "site": study.site.code,
        "is_dicom": study.is_dicom,
        "modality": study.modality,
        "body_part": study.body_part,
        "description": study.description,
        "study_date": study.study_date.isoformat() if study.study_date else None,
        "study_time": study.study_time.isoformat() if study.study_time else None,
        "created_at": serializers.DateTimeField().to_representation(study.created_at),
        "case": {"id": study.case.pk, "url": case_url(request, study.case.pk)},
        "series": [
            {
                "id": series.pk,
                "series_instance_uid": series.series_instance_uid,
                "series_number": series.series_number,
                "modality": series.modality,
                "body_part": series.body_part,
                "description": series.description,
                "images": [
                    {"id": image.pk, "instance_number": image.instance_number}
                    for image in series.images.all()
                ],
            }
            for series in study.series.all()
        ],
    }


EXAMPLE_STUDY = {
    "id": 902,
    "url": "https://oncoportal.example.org/api/v1/studies/902/",
    "study_instance_uid": "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322",
    "patient": "7Q2XK4M9D1TB6W0R",
    "site": "uh-radiology",
    "is_dicom": True,
    "modality": "CT",
    "body_part": "CHEST",
    "description": "CT THORAX",
    "study_date": "2004-01-19",
    "study_time": "07:27:30",
    "created_at": "2026-11-30T08:12:44.120931Z",
    "case": {"id": 4182, "url": "https://oncoportal.example.org/api/v1/cases/4182/"},
    "series": [
        {
            "id": 1311,
            "series_instance_uid": "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322",
            "series_number": 1,
            "modality": "CT",
            "body_part": "CHEST",
            "description": "",
            "images": [{"id": 5120, "instance_number": 1}],
        }
    ],
}

EXAMPLE_DUPLICATES = {
    **EXAMPLE_REPORT,
    "accepted": [],
    "duplicates": [
        {
            "name": "CT_small.dcm",
            "status": "duplicate",
            "reason": "already stored (same SOP Instance UID)",
            "image_id": None,
            "case_id": 4182,
            "study_instance_uid": "",
            "series_instance_uid": "",
            "sop_instance_uid": "",
            "modality": "",
            "warnings": [],
        }
    ],
    "rejected": [],
    "case_ids": [],
    "cases": [],
}

UPLOAD_REQUEST = inline_serializer(
    "StudyUpload",
    {
        "files": serializers.ListField(
            child=serializers.FileField(),
            help_text="One or more files: DICOM, JPEG/PNG/TIFF, or zip archives of them (expanded).",
        ),
        "task": serializers.CharField(
            required=False,
            help_text="A task key of the registry, or `unassigned`; left out, each DICOM study's task is "
            "inferred from its header (plain images need one).",
        ),
        "patient_ref": serializers.CharField(
            required=False, help_text="Plain images only: links them to one patient (hashed, never stored)."
        ),
        "site": serializers.CharField(
            required=False, help_text="A site code: required for accounts without a site (Curators) only."
        ),
    },
)


class StudyListView(APIView):
    """GET: the studies you may see. POST: upload studies."""

    parser_classes = [MultiPartParser, FormParser]
    scopes = {"get": Scope.READ, "post": Scope.UPLOAD}
    permissions = {"post": "cases.upload_study"}
    denied = {"post": NO_UPLOAD}
    pagination_class = NewestFirstCursor

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if request.method == "POST":
            # Before DRF authenticates: a session's CSRF check reads the body, and an
            # oversized one must be refused unread (from Content-Length alone).
            upload_guard(
                request._request, refuse=_too_large, messages=UPLOAD_MESSAGES, csrf=False, parse=False
            )
        super().initial(request, *args, **kwargs)

    @extend_schema(
        operation_id="studies_list",
        summary="Studies you may see",
        description="The studies of the cases your account may see, newest first, with their series "
        "and image ids. Cursor pages: follow `next`.",
        responses={200: StudySerializer(many=True), **errors(403)},
        examples=[
            example("A page of studies", EXAMPLE_STUDY),
        ],
        tags=["studies"],
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(study_list_for_user(user=request.user), request, view=self)
        return paginator.get_paginated_response([study_body(request, study) for study in page or []])

    @extend_schema(
        operation_id="studies_upload",
        summary="Upload studies",
        description="multipart/form-data with one or more `files` (DICOM, JPEG/PNG/TIFF, zip). Each file is "
        "checked, de-identified and stored on its own: the answer says what became of each. 201 when "
        "something was stored; 200 when every file was already there (duplicates); 400 `rejected` when "
        "every file was refused, with each file's reason under `errors`. A body over the upload limit "
        "is refused (413) before it is read. Nothing is ever half-stored.",
        request={"multipart/form-data": UPLOAD_REQUEST},
        responses={201: UploadReportSerializer, 200: UploadReportSerializer, **errors(400, 403, 413, 415)},
        examples=[
            example("Two files, one rejected", EXAMPLE_REPORT, status=201),
            example("Only duplicates", EXAMPLE_DUPLICATES),
        ],
        tags=["studies"],
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        user: User = request.user
        unknown = sorted(set(request.data) - UPLOAD_FIELDS)
        if unknown:
            raise FieldErrors(
                f"Unknown field{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}.",
                {name: ["Unknown field."] for name in unknown},
            )
        if not request.FILES.getlist("files"):
            raise FieldErrors("No files: send one or more in the 'files' field.", {"files": ["No files."]})
        data = request.data.copy()
        if user.site is not None and data.get("site") not in (None, "", user.site.code):
            raise FieldErrors(
                "Your account uploads to its own site only.",
                {"site": [f"Your account belongs to site '{user.site.code}'; leave site out."]},
            )
        form = UploadStudiesForm(data, request.FILES, user=user)
        if not form.is_valid():
            raise FieldErrors(
                "Nothing was uploaded; see errors.",
                {name: [str(message) for message in messages] for name, messages in form.errors.items()},
            )
        report = intake_sources(
            uploads=_read_each(form.labelled_uploads()),
            site=form.target_site(),
            user=user,
            source=IntakeBatch.Source.API,
            task=form.cleaned_data["task"],
            patient_ref=form.cleaned_data["patient_ref"],
            audit=api_audit(request),
        )
        body = upload_report_body(request, report.to_dict())
        if report.accepted:
            return Response(body, status=201, headers={"Location": body["report_url"]})
        if report.duplicates:
            return Response(body, status=200)
        reasons: dict[str, list[str]] = {}
        for item in report.rejected:
            reasons.setdefault(item.name, []).append(item.reason)
        raise FieldErrors(
            f"Every file was rejected; nothing was stored. See errors for each file's reason "
            f"(report {body['report_url']}).",
            reasons,
            code="rejected",
        )


class StudyDetailView(APIView):
    scopes = {"get": Scope.READ}

    @extend_schema(
        operation_id="studies_retrieve",
        parameters=[STUDY_ID],
        summary="One study",
        description="A study of a case you may see, with its series and image ids; 404 otherwise.",
        responses={200: StudySerializer, **errors(403, 404)},
        examples=[example("A CT study", EXAMPLE_STUDY)],
        tags=["studies"],
    )
    def get(self, request: AuthenticatedRequest, pk: int) -> Response:
        study = study_list_for_user(user=request.user).filter(pk=pk).first()
        if study is None:
            raise Http404("No such study.")
        return Response(study_body(request, study))
