"""DICOMweb fixtures: tokens, multipart/related bodies of real files, a STOW helper."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

SC_STUDY = [  # six instances of one OT study (one series), all decodable
    "pydicom-data/SC_rgb_dcmtk_ebcr_dcmd.dcm",
    "pydicom-data/SC_rgb_dcmtk_ebcyn1_dcmd.dcm",
    "pydicom-data/SC_rgb_dcmtk_ebcyn2_dcmd.dcm",
    "pydicom-data/SC_rgb_dcmtk_ebcynp_dcmd.dcm",
    "pydicom-data/SC_rgb_dcmtk_ebcys2_dcmd.dcm",
    "pydicom-data/SC_rgb_dcmtk_ebcys4_dcmd.dcm",
]
CT = "pydicom/CT_small.dcm"
MR = "pydicom/MR_small.dcm"
MALFORMED = "pydicom/MR_truncated.dcm"  # pixel data truncated on purpose
NO_PIXELS = "pydicom/rtplan.dcm"


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def dicom(data_dir: Path) -> Callable[[str], bytes]:
    def read(name: str) -> bytes:
        return (data_dir / "dicom" / name).read_bytes()

    return read


def multipart_related(
    parts: list[bytes | tuple[str, bytes]], boundary: str | None = None
) -> tuple[bytes, str]:
    """(body, Content-Type) of a STOW-RS request; a part is bytes (application/dicom) or (type, bytes)."""
    boundary = boundary or uuid.uuid4().hex
    chunks = []
    for part in parts:
        ctype, data = part if isinstance(part, tuple) else ("application/dicom", part)
        chunks.append(f"--{boundary}\r\nContent-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n")
    body = b"".join(chunks) + f"--{boundary}--\r\n".encode()
    return body, f'multipart/related; type="application/dicom"; boundary={boundary}'


@pytest.fixture
def make_token(db) -> Callable[..., str]:
    from api.services.tokens import token_create

    def make(user, scopes: str = "read") -> str:
        return token_create(user=user, name="test", scopes=scopes, expires_in=timedelta(days=30)).value

    return make


@pytest.fixture
def token_client(make_token) -> Callable[..., object]:
    from rest_framework.test import APIClient

    def make(user, scopes: str = "read") -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user, scopes)}")
        return client

    return make


@pytest.fixture
def stow(token_client, integration) -> Callable[..., object]:
    """stow(parts, path="/dicomweb/studies", client=None) -> the response."""
    default = token_client(integration, "read,upload")

    def post(parts: list, path: str = "/dicomweb/studies", client=None, **extra):
        body, ctype = multipart_related(parts)
        return (client or default).generic(
            "POST", path, body, content_type=ctype, HTTP_ACCEPT="application/dicom+json", **extra
        )

    return post
