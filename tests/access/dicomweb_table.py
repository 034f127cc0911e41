"""DICOMweb's table (/dicomweb/): the REST API's authentication, scopes and rules, on DICOM-stored images.

QIDO-RS searches under a study or series the account may not see answer as
for one that does not exist: 204, no content. WADO-RS retrieves answer 404.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings

from api.models import Scope
from tests.access.api_table import Endpoint
from tests.access.principals import GLOBAL, OWN
from tests.access.world import World

DW = "/dicomweb"
DICOM_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'
FRAMES_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
STOW_FILE = "SC_rgb_gdcm_KY.dcm"  # a third DICOM file, in no site's world


def _study(w: World, s: str) -> str:
    return f"{DW}/studies/{w[s].dicom.series.study.study_instance_uid}"


def _series(w: World, s: str) -> str:
    return f"{_study(w, s)}/series/{w[s].dicom.series.series_instance_uid}"


def _instance(w: World, s: str) -> str:
    return f"{_series(w, s)}/instances/{w[s].dicom.sop_instance_uid}"


def _stow(w: World) -> tuple[bytes, str]:
    data = (Path(settings.BASE_DIR).parent / "shared" / "data" / "dicom" / "pydicom" / STOW_FILE).read_bytes()
    boundary = uuid.uuid4().hex
    body = f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data
    body += f"\r\n--{boundary}--\r\n".encode()
    return body, f'multipart/related; type="application/dicom"; boundary={boundary}'


def _qido(name: str, path: str) -> Endpoint:
    return Endpoint(name, "GET", lambda w, s: f"{DW}/{path}", Scope.READ, scoping=GLOBAL)


DICOMWEB: list[Endpoint] = [
    Endpoint(
        "studies",
        "GET",
        lambda w, s: f"{DW}/studies",
        Scope.READ,
        scoping=GLOBAL,
        shows=lambda w, s: [w[s].dicom.series.study.study_instance_uid],
    ),
    Endpoint(
        "studies",
        "POST",
        lambda w, s: f"{DW}/studies",
        Scope.UPLOAD,
        "cases.upload_study",
        scoping=GLOBAL,
        raw=_stow,
        ok=frozenset({200, 400}),  # a Curator has no site of their own to store into: 400 says so
    ),
    Endpoint("study", "GET", _study, Scope.READ, accept=DICOM_ACCEPT),
    Endpoint(
        "study",
        "POST",
        lambda w, s: _study(w, OWN),
        Scope.UPLOAD,
        "cases.upload_study",
        scoping=GLOBAL,
        raw=_stow,
        ok=frozenset({200, 400, 409}),  # the file is of another study: refused, after the access checks
    ),
    Endpoint("study_series", "GET", lambda w, s: f"{_study(w, s)}/series", Scope.READ, hidden=204),
    Endpoint("study_instances", "GET", lambda w, s: f"{_study(w, s)}/instances", Scope.READ, hidden=204),
    Endpoint("series_instances", "GET", lambda w, s: f"{_series(w, s)}/instances", Scope.READ, hidden=204),
    _qido("all_series", "series"),
    _qido("all_instances", "instances"),
    Endpoint("study_metadata", "GET", lambda w, s: f"{_study(w, s)}/metadata", Scope.READ),
    Endpoint("series", "GET", _series, Scope.READ, accept=DICOM_ACCEPT),
    Endpoint("series_metadata", "GET", lambda w, s: f"{_series(w, s)}/metadata", Scope.READ),
    Endpoint("instance", "GET", _instance, Scope.READ, accept=DICOM_ACCEPT),
    Endpoint("instance_metadata", "GET", lambda w, s: f"{_instance(w, s)}/metadata", Scope.READ),
    Endpoint(
        "instance_rendered", "GET", lambda w, s: f"{_instance(w, s)}/rendered", Scope.READ, accept="image/png"
    ),
    Endpoint("frames", "GET", lambda w, s: f"{_instance(w, s)}/frames/1", Scope.READ, accept=FRAMES_ACCEPT),
    Endpoint(
        "frame_rendered",
        "GET",
        lambda w, s: f"{_instance(w, s)}/frames/1/rendered",
        Scope.READ,
        accept="image/png",
    ),
]
