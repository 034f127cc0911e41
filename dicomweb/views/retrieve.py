"""WADO-RS: instances, series, metadata, frames and rendered images (docs/dicomweb.md)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any, NoReturn

from django.http import HttpResponse, StreamingHttpResponse
from django.urls import reverse
from rest_framework.exceptions import NotAcceptable, ParseError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

from api.models import Scope
from api.views.base import AuthenticatedRequest
from cases.models import Image, ImageKind
from dicomweb import results, wado
from dicomweb.views.base import DICOM_JSON, DicomWebView


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
