"""Whole request bodies for the upload endpoints: huge, lying and malformed multipart.

``form_body`` builds the multipart/form-data body of one file (the web upload and the
REST API take the same form); ``related_body`` the multipart/related body of STOW-RS.
Both write the bytes of a file name as given, so a name that is not UTF-8 reaches the
server as a browser or a script would send it.
"""

from __future__ import annotations

from tests.corpus.dicom_inputs import Seed, fresh
from tests.corpus.model import HostileRequest

BOUNDARY = "corpus-boundary-7MA4YWxkTrZu0gW"
FORM = f"multipart/form-data; boundary={BOUNDARY}"
RELATED = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
WEB_API = ("web", "api")


def _name_bytes(name: str | bytes) -> bytes:
    return name if isinstance(name, bytes) else name.encode("utf-8", "surrogateescape")


def form_body(
    files: list[tuple[str | bytes, bytes]], fields: dict[str, str] | None = None, boundary: str = BOUNDARY
) -> bytes:
    chunks = []
    for key, value in (fields or {}).items():
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
        )
    for name, data in files:
        chunks.append(
            f"--{boundary}\r\n".encode()
            + b'Content-Disposition: form-data; name="files"; filename="'
            + _name_bytes(name)
            + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
            + data
            + b"\r\n"
        )
    return b"".join(chunks) + f"--{boundary}--\r\n".encode()


def related_body(parts: list[tuple[str, bytes]], boundary: str = BOUNDARY) -> bytes:
    chunks = [
        f"--{boundary}\r\nContent-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n" for ctype, data in parts
    ]
    return b"".join(chunks) + f"--{boundary}--\r\n".encode()


def requests(seeds: dict[str, Seed]) -> list[HostileRequest]:
    good = fresh(seeds["mr-explicit"], "requests/good")
    nine_mib = bytes(9 * 1024 * 1024)
    out = [
        # Size: refused from Content-Length, before the body is read.
        HostileRequest("form-over-limit", form_body([("big.dcm", nine_mib)]), FORM, WEB_API),
        HostileRequest(
            "related-over-limit", related_body([("application/dicom", nine_mib)]), RELATED, ("stow",)
        ),
        HostileRequest(
            "form-content-length-10-gib",
            form_body([("a.dcm", good)]),
            FORM,
            WEB_API,
            content_length=10 * 1024**3,
        ),
        HostileRequest(
            "related-content-length-10-gib",
            related_body([("application/dicom", good)]),
            RELATED,
            ("stow",),
            content_length=10 * 1024**3,
        ),
        # Counts: more files or fields than Django's limits.
        HostileRequest(
            "form-too-many-files", form_body([(f"f{i}.dcm", b"x") for i in range(21)]), FORM, WEB_API
        ),
        HostileRequest(
            "form-too-many-fields",
            form_body([("a.dcm", good)], {f"field{i}": "x" for i in range(1001)}),
            FORM,
            WEB_API,
        ),
        # Malformed bodies.
        HostileRequest("form-no-boundary", form_body([("a.dcm", good)]), "multipart/form-data", WEB_API),
        HostileRequest(
            "form-other-boundary", form_body([("a.dcm", good)], boundary="something-else"), FORM, WEB_API
        ),
        HostileRequest("form-unterminated", form_body([("a.dcm", good)])[:-200], FORM, WEB_API),
        HostileRequest(
            "form-huge-part-header",
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="a.dcm"\r\n'.encode()
            + b"X-Pad: "
            + b"p" * (1024 * 1024)
            + b"\r\n\r\n"
            + good
            + f"\r\n--{BOUNDARY}--\r\n".encode(),
            FORM,
            WEB_API,
        ),
        HostileRequest(
            "form-part-without-disposition",
            f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
            + good
            + f"\r\n--{BOUNDARY}--\r\n".encode(),
            FORM,
            WEB_API,
        ),
        HostileRequest(
            "form-base64-garbage",
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="a.dcm"\r\n'
            f"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n--{BOUNDARY}--\r\n".encode(),
            FORM,
            WEB_API,
        ),
        HostileRequest("form-empty-body", b"", FORM, WEB_API),
        HostileRequest("form-json-body", b'{"files": ["a.dcm"]}', "application/json", WEB_API),
        HostileRequest(
            "form-boundary-300-chars",
            form_body([("a.dcm", good)], boundary="b" * 300),
            f"multipart/form-data; boundary={'b' * 300}",
            WEB_API,
        ),
        # STOW-RS bodies.
        HostileRequest(
            "related-no-boundary",
            related_body([("application/dicom", good)]),
            'multipart/related; type="application/dicom"',
            ("stow",),
        ),
        HostileRequest("related-no-parts", f"--{BOUNDARY}--\r\n".encode(), RELATED, ("stow",)),
        HostileRequest(
            "related-unterminated", related_body([("application/dicom", good)])[:-300], RELATED, ("stow",)
        ),
        HostileRequest(
            "related-png-part",
            related_body([("image/png", b"\x89PNG\r\n\x1a\n" + bytes(64))]),
            RELATED,
            ("stow",),
        ),
        HostileRequest(
            "related-html-part",
            related_body([("text/html", b"<script>alert(1)</script>")]),
            RELATED,
            ("stow",),
        ),
        HostileRequest(
            "related-huge-part-header",
            f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\nX-Pad: ".encode()
            + b"p" * (64 * 1024)
            + b"\r\n\r\n"
            + good
            + f"\r\n--{BOUNDARY}--\r\n".encode(),
            RELATED,
            ("stow",),
        ),
        HostileRequest(
            "related-huge-preamble",
            b"x" * (128 * 1024) + related_body([("application/dicom", good)]),
            RELATED,
            ("stow",),
        ),
        HostileRequest("related-form-data-type", form_body([("a.dcm", good)]), FORM, ("stow",)),
        HostileRequest(
            "related-type-xml",
            related_body([("application/dicom", good)]),
            f'multipart/related; type="application/dicom+xml"; boundary={BOUNDARY}',
            ("stow",),
        ),
    ]
    return out
