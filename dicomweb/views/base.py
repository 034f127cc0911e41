"""The DICOMweb views' shared parts: renderer, errors, the base view, target site and URLs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from django.urls import reverse
from rest_framework.exceptions import APIException, ParseError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.authentication import BearerTokenAuthentication, UnparsedBodySessionAuthentication
from api.errors import FieldErrors, TooLarge
from api.views.base import AuthenticatedRequest
from cases.models import Site, User
from dicomweb import qido, results
from oncoportal.http import UploadMessages

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


def _study_pk(row: Any, level: qido.Level) -> int:
    return int(results.study_of(row, level).pk)


class DicomWebView(APIView):
    schema = None  # not in the REST API's OpenAPI document; see docs/dicomweb.md
    authentication_classes = [BearerTokenAuthentication, UnparsedBodySessionAuthentication]
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
