"""DICOMweb endpoints: STOW-RS, QIDO-RS and WADO-RS (docs/dicomweb.md). Thin: parse, call, answer.

They share the REST API's authentication (bearer tokens with scopes, or the
browser's session), permission class, throttling and error body, but are left
out of its OpenAPI schema: PS3.18 and the conformance statement describe them.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any, NoReturn

from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import reverse
from rest_framework.exceptions import APIException, NotAcceptable, ParseError, UnsupportedMediaType
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.errors import FieldErrors, TooLarge
from api.models import Scope
from api.views.base import AuthenticatedRequest, api_audit
from api.views.studies import NO_UPLOAD
from cases.models import AuditSource, Image, ImageKind, Site, User
from dicomweb import qido, results, wado
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


class LengthRequired(APIException):
    status_code = 411
    default_code = "length_required"
    default_detail = (
        "Send the STOW-RS body with a Content-Length: chunked transfer coding is not accepted "
        "(the size limit is checked before the body is read)."
    )


def _too_large(status: int, message: str) -> NoReturn:
    raise TooLarge(message)


# Stand-ins for the UIDs: each URL is reversed once per request and the UIDs put in their
# place (a page of 100 results reversed 100 times cost a fifth of the search).
_STAND_INS = ("0.0.0.0.0.1", "0.0.0.0.0.2", "0.0.0.0.0.3")


def _filler(url: str) -> Callable[..., str]:
    """A function of the UIDs that gives ``url`` with them in place of its stand-ins (in order)."""
    pieces: list[str] = []
    rest = url
    for stand_in in _STAND_INS:
        head, found, tail = rest.partition(stand_in)
        if not found:
            break
        pieces.append(head)
        rest = tail

    def fill(*uids: str) -> str:
        return "".join(piece + uid for piece, uid in zip(pieces, uids, strict=True)) + rest

    return fill


def _urls(request: Request) -> qido.Urls:
    def absolute(name: str, *keys: str) -> Callable[..., str]:
        kwargs = dict(zip(keys, _STAND_INS, strict=False))
        return _filler(request.build_absolute_uri(reverse(f"dicomweb:{name}", kwargs=kwargs)))

    return qido.Urls(
        study=absolute("study", "study"),
        series=absolute("series", "study", "series"),
        instance=absolute("instance", "study", "series", "instance"),
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
        rows, more = results.extend_page(user=request.user, search=search, rows=rows, more=more, **uids)
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
            results.modalities_into(modalities, {_study_pk(row, level) for row in rows})
        if "study" in levels or search.include_all or search.include & {"00201206", "00201208"}:
            results.count_into(rows, level)  # the result objects count as the study's series and instances
        urls = _urls(request)
        body = qido.datasets_of(rows, search, levels, urls, modalities)
        return Response(body, headers=headers, content_type=DICOM_JSON)


def _study_pk(row: Any, level: qido.Level) -> int:
    return int(results.study_of(row, level).pk)


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


class WadoView(DicomWebView):
    """Retrieve: the view negotiates Accept itself (multipart, images); errors are JSON."""

    scopes = {"get": Scope.READ}

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[Any, str]:
        return JSONRenderer(), "application/json"


def _accept(request: Request) -> str:
    return str(request.META.get("HTTP_ACCEPT", ""))


def _not_acceptable(exc: wado.NotAcceptable) -> NoReturn:
    raise NotAcceptable(str(exc)) from None


def retrieve(
    request: AuthenticatedRequest, *, study: str, series: str | None = None, instance: str | None = None
) -> StreamingHttpResponse:
    """The instances as multipart/related; type="application/dicom", streamed file by file."""
    images, result_objects = results.for_retrieve(
        user=request.user, study=study, series=series, instance=instance
    )
    files, plain = wado.dicom_files(list(images.defer("header")))
    if not files and not result_objects:
        raise NotAcceptable(
            "Nothing here has a DICOM file: it was uploaded as plain images (JPEG/PNG/TIFF), "
            "which are not DICOM instances. Their renderings are at .../rendered."
        )
    try:
        syntaxes = {i.transfer_syntax_uid or wado.EXPLICIT_LE for i in files}
        wado.negotiate_multipart(
            _accept(request), wado.DICOM, syntaxes | ({results.STORED_SYNTAX} if result_objects else set())
        )
    except wado.NotAcceptable as exc:
        _not_acceptable(exc)
    boundary = wado.new_boundary()
    response = StreamingHttpResponse(
        wado.multipart_body(
            itertools.chain(wado.instance_parts(files), results.parts(result_objects)), boundary
        ),
        content_type=f'multipart/related; type="{wado.DICOM}"; boundary={boundary}',
    )
    if plain:
        host = request.get_host()
        response["Warning"] = (
            f'299 {host} "{plain} plain-image instance(s) have no DICOM file and were left out."'
        )
    return response


def _frames_url(request: Request) -> Callable[[Image], str]:
    def url(image: Image) -> str:
        path = reverse(
            "dicomweb:frames",
            kwargs={
                "study": image.series.study.study_instance_uid,
                "series": image.series.series_instance_uid,
                "instance": image.sop_instance_uid,
                "frames": ",".join(str(n) for n in range(1, image.frames + 1)),
            },
        )
        return request.build_absolute_uri(path)

    return url


class SeriesView(WadoView):
    def get(self, request: AuthenticatedRequest, study: str, series: str) -> StreamingHttpResponse:
        return retrieve(request, study=study, series=series)


class InstanceView(WadoView):
    def get(
        self, request: AuthenticatedRequest, study: str, series: str, instance: str
    ) -> StreamingHttpResponse:
        return retrieve(request, study=study, series=series, instance=instance)


class MetadataView(WadoView):
    """Metadata of a study, series or instance: a JSON array, one dataset per instance."""

    def get(
        self,
        request: AuthenticatedRequest,
        study: str,
        series: str | None = None,
        instance: str | None = None,
    ) -> HttpResponse:
        images, result_objects = results.for_retrieve(
            user=request.user, study=study, series=series, instance=instance
        )
        try:
            media_type = wado.negotiate(_accept(request), [DICOM_JSON, "application/json"])
        except wado.NotAcceptable as exc:
            _not_acceptable(exc)
        url = _frames_url(request)
        body = [wado.metadata_of(image, url) for image in images]
        body += [results.metadata_of(row) for row in result_objects]
        return HttpResponse(json.dumps(body).encode(), content_type=media_type)


def _one_instance(request: AuthenticatedRequest, study: str, series: str, instance: str) -> Image:
    return wado.instances_for_user(user=request.user, study=study, series=series, instance=instance).get()


class FramesView(WadoView):
    """Frames as multipart/related; type="application/octet-stream": the uncompressed pixel bytes."""

    def get(
        self, request: AuthenticatedRequest, study: str, series: str, instance: str, frames: str
    ) -> HttpResponse:
        image = _one_instance(request, study, series, instance)
        if image.kind != ImageKind.DICOM:
            raise NotAcceptable(
                "This instance was uploaded as a plain image and has no DICOM pixel data; "
                "its frames are at .../frames/{n}/rendered."
            )
        try:
            numbers = wado.frame_numbers(frames, image)
        except wado.BadFrameList as exc:
            raise ParseError(str(exc)) from None
        try:
            wado.negotiate_multipart(_accept(request), wado.OCTET, {wado.EXPLICIT_LE})
        except wado.NotAcceptable as exc:
            _not_acceptable(exc)
        data = wado.frame_bytes(image, numbers)
        boundary = wado.new_boundary()
        part_type = f'{wado.OCTET}; transfer-syntax="{wado.EXPLICIT_LE}"'
        body = b"".join(wado.multipart_body([(part_type, wado.bytes_part(d)) for d in data], boundary))
        return HttpResponse(body, content_type=f'multipart/related; type="{wado.OCTET}"; boundary={boundary}')


class RenderedView(WadoView):
    """An instance (its key frame) or one frame rendered as JPEG or PNG from the stored display PNG."""

    def get(
        self, request: AuthenticatedRequest, study: str, series: str, instance: str, frame: str | None = None
    ) -> HttpResponse:
        image = _one_instance(request, study, series, instance)
        index = None
        if frame is not None:
            try:
                (number,) = wado.frame_numbers(frame, image)
            except (wado.BadFrameList, ValueError) as exc:
                raise ParseError(
                    str(exc) if isinstance(exc, wado.BadFrameList) else "Render one frame."
                ) from None
            index = number - 1
        try:
            media_type = wado.negotiate(_accept(request), wado.RENDERED_TYPES)
        except wado.NotAcceptable as exc:
            _not_acceptable(exc)
        response = HttpResponse(wado.rendered(image, index, media_type), content_type=media_type)
        response["Cache-Control"] = "private, max-age=3600"
        return response
