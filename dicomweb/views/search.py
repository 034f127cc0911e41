"""QIDO-RS searches and STOW-RS stores (docs/dicomweb.md)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import StreamingHttpResponse
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from api.models import Scope
from api.views.base import AuthenticatedRequest, api_audit
from api.views.studies import NO_UPLOAD
from cases.models import AuditSource
from dicomweb.multipart import MultipartError, content_type_params, iter_parts
from dicomweb.stow import DICOM, stow
from dicomweb.views.base import (
    DICOM_JSON,
    STOW_MESSAGES,
    DicomWebView,
    LengthRequired,
    _target_site,
    _too_large,
    _urls,
)
from dicomweb.views.retrieve import retrieve
from oncoportal.http import upload_guard


class StudiesView(DicomWebView):
    """GET: QIDO-RS search for studies. POST: STOW-RS store instances (of any studies)."""

    scopes = {"get": Scope.READ, "post": Scope.UPLOAD}
    permissions = {"post": "cases.upload_study"}
    denied = {"post": NO_UPLOAD}

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if request.method == "POST":
            # Before authentication, as the REST API's upload: an oversized body is refused
            # from Content-Length alone, unread.
            upload_guard(request._request, refuse=_too_large, messages=STOW_MESSAGES, csrf=False, parse=False)
        super().initial(request, *args, **kwargs)

    def get(self, request: AuthenticatedRequest) -> Response:
        return self.search(request, "study")

    def post(self, request: AuthenticatedRequest, study: str | None = None) -> Response:
        return store(request, study_uid=study)


class StudyView(StudiesView):
    """POST: STOW-RS store instances of this study. GET: WADO-RS retrieve the study's instances."""

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[Any, str]:
        if request.method == "GET":
            return JSONRenderer(), "application/json"  # WADO-RS negotiates Accept itself
        return super().perform_content_negotiation(request, force)

    def get(  # type: ignore[override]
        self, request: AuthenticatedRequest, study: str
    ) -> StreamingHttpResponse:
        return retrieve(request, study=study)


def store(request: AuthenticatedRequest, *, study_uid: str | None) -> Response:
    media_type, params = content_type_params(request.META.get("CONTENT_TYPE", ""))
    if media_type != "multipart/related":
        raise UnsupportedMediaType(
            media_type,
            detail=f'STOW-RS takes multipart/related; type="{DICOM}", not {media_type or "no Content-Type"}.',
        )
    part_type = params.get("type", DICOM).lower()
    if part_type != DICOM:
        raise UnsupportedMediaType(
            part_type,
            detail=f"Only {DICOM} parts are supported (not {part_type}): send each instance as a Part 10 file.",
        )
    if "CONTENT_LENGTH" not in request.META or request.META.get("HTTP_TRANSFER_ENCODING"):
        raise LengthRequired()
    site = _target_site(request, request.user)
    parts = iter_parts(
        request._request.read,
        params.get("boundary", ""),
        max_parts=settings.DATA_UPLOAD_MAX_NUMBER_FILES,
        max_part_bytes=settings.INTAKE_MAX_REQUEST_BYTES,
    )
    try:
        first = next(parts)
    except StopIteration:
        raise ParseError("The multipart body has no parts: nothing was stored.") from None
    except MultipartError as exc:
        raise ParseError(f"Malformed multipart body: {exc}. Nothing was stored.") from None

    def all_parts() -> Any:
        yield first
        yield from parts

    urls = _urls(request)
    result = stow(
        parts=all_parts(),
        default_type=part_type,
        study_uid=study_uid,
        site=site,
        user=request.user,
        audit=api_audit(request, source=AuditSource.DICOMWEB),
        study_url=urls.study,
        instance_url=urls.instance,
    )
    return Response(result.body, status=result.status, content_type=DICOM_JSON)


class StudySeriesView(DicomWebView):
    scopes = {"get": Scope.READ}

    def get(self, request: AuthenticatedRequest, study: str) -> Response:
        return self.search(request, "series", study_uid=study)


class AllSeriesView(DicomWebView):
    scopes = {"get": Scope.READ}

    def get(self, request: AuthenticatedRequest) -> Response:
        return self.search(request, "series")


class InstancesView(DicomWebView):
    """Instances of all studies, of one study, or of one series."""

    scopes = {"get": Scope.READ}

    def get(
        self, request: AuthenticatedRequest, study: str | None = None, series: str | None = None
    ) -> Response:
        return self.search(request, "instance", study_uid=study, series_uid=series)


# --- WADO-RS (PS3.18 §10.4) ------------------------------------------------------------------
