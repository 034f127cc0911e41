"""DICOMweb endpoints: STOW-RS and QIDO-RS (docs/dicomweb.md). Thin: parse, call, answer.

They share the REST API's authentication (bearer tokens with scopes, or the
browser's session), permission class, throttling and error body, but are left
out of its OpenAPI schema: PS3.18 and the conformance statement describe them.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.urls import reverse
from rest_framework.exceptions import APIException, ParseError, UnsupportedMediaType
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.errors import FieldErrors, TooLarge
from api.models import Scope
from api.views.base import AuthenticatedRequest, api_audit
from api.views.studies import NO_UPLOAD
from cases.models import AuditSource, Site, User
from dicomweb import qido
from dicomweb.multipart import MultipartError, content_type_params, iter_parts
from dicomweb.stow import DICOM, stow
from oncoportal.http import UploadMessages, upload_guard

DICOM_JSON = "application/dicom+json"
STOW_MESSAGES = UploadMessages(
    too_large="This request is {size}, over the {limit} limit for one STOW-RS request. Nothing was stored. "
    "Send the instances in smaller groups."
)


class DicomJSONRenderer(JSONRenderer):
    media_type = DICOM_JSON
    format = "dicomjson"


class NotImplementedYet(APIException):
    status_code = 501
    default_code = "not_implemented"
    default_detail = "WADO-RS is not supported yet; see /docs/dicomweb.md."


class LengthRequired(APIException):
    status_code = 411
    default_code = "length_required"
    default_detail = (
        "Send the STOW-RS body with a Content-Length: chunked transfer coding is not accepted "
        "(the size limit is checked before the body is read)."
    )


def _too_large(status: int, message: str) -> NoReturn:
    raise TooLarge(message)


def _urls(request: Request) -> qido.Urls:
    def absolute(name: str, **kwargs: str) -> str:
        return request.build_absolute_uri(reverse(f"dicomweb:{name}", kwargs=kwargs))

    return qido.Urls(
        study=lambda st: absolute("study", study=st),
        series=lambda st, se: absolute("series", study=st, series=se),
        instance=lambda st, se, sop: absolute("instance", study=st, series=se, instance=sop),
    )


def _target_site(request: Request, user: User) -> Site:
    """The ``site`` query parameter (a site code) names where accounts without a site store."""
    code = request.query_params.get("site", "")
    if user.site is not None:
        if code not in ("", user.site.code):
            raise FieldErrors(
                "Your account stores to its own site only.",
                {"site": [f"Your account belongs to site '{user.site.code}'; leave site out."]},
            )
        return user.site
    if not code:
        raise FieldErrors(
            "Your account has no site: name the site the studies belong to with ?site=<site code>.",
            {"site": ["Required for accounts without a site."]},
        )
    site = Site.objects.filter(code=code).first()
    if site is None:
        raise FieldErrors(f"No site with the code '{code}'.", {"site": ["Unknown site code."]})
    return site


class DicomWebView(APIView):
    schema = None  # not in the REST API's OpenAPI document; see docs/dicomweb.md
    renderer_classes = [DicomJSONRenderer, JSONRenderer]
    parser_classes: list[Any] = []  # STOW-RS reads its multipart/related body itself

    def search(self, request: AuthenticatedRequest, level: qido.Level, **uids: str | None) -> Response:
        try:
            search = qido.parse_search(level, request.query_params)
            qs = qido.search_queryset(user=request.user, search=search, **uids)
        except qido.QueryError as exc:
            raise ParseError(str(exc)) from None
        rows, more = qido.page_of(qs, search)
        headers = {}
        if more:
            search.warnings.append("There are additional results that can be requested.")
        if search.warnings:
            host = request.get_host()
            headers["Warning"] = ", ".join(f'299 {host} "{w}"' for w in search.warnings)
        if not rows:
            return Response(status=204, headers=headers)
        fixed = [
            lvl for lvl, uid in (("study", uids.get("study_uid")), ("series", uids.get("series_uid"))) if uid
        ]
        levels = search.returned_levels(fixed)  # type: ignore[arg-type]
        modalities: dict[int, list[str]] = {}
        if qido.needs_modalities(search, levels):
            modalities = qido.modalities_of({_study_pk(row, level) for row in rows})
        urls = _urls(request)
        body = [qido.dataset_of(row, search, levels, urls, modalities) for row in rows]
        return Response(body, headers=headers, content_type=DICOM_JSON)


def _study_pk(row: Any, level: qido.Level) -> int:
    if level == "study":
        return int(row.pk)
    if level == "series":
        return int(row.study_id)
    return int(row.series.study_id)


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
    """POST: STOW-RS store instances of this study. GET (WADO-RS) is not supported yet."""

    def get(self, request: AuthenticatedRequest, study: str | None = None) -> Response:
        raise NotImplementedYet()


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


class NotYetView(DicomWebView):
    """WADO-RS resources: named (STOW-RS answers link to them), not served yet."""

    scopes = {"get": Scope.READ}

    def get(self, request: AuthenticatedRequest, **kwargs: str) -> Response:
        raise NotImplementedYet()
