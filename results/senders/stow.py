"""STOW-RS: one multipart/related POST carrying a batch of objects, a result per object from the response."""

from __future__ import annotations

import base64
import io
import json
import logging
import secrets
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydicom.filewriter import dcmwrite

from results.senders import ObjectResult, Outcome, Outgoing, dicom_status_result

__all__ = ["StowPeer", "encode_part10", "send_stow"]

logger = logging.getLogger(__name__)

USER_AGENT = "OncoPortal-Results/1"
RESPONSE_SNIPPET = 200  # characters of an unparsed error answer kept in the log
# Client errors that may pass: a request timeout and throttling.
TRANSIENT_4XX = (408, 425, 429)

FAILED_SOP_SEQUENCE = "00081198"
REFERENCED_SOP_SEQUENCE = "00081199"
REFERENCED_SOP_INSTANCE_UID = "00081155"
FAILURE_REASON = "00081197"
WARNING_REASON = "00081196"


@dataclass(frozen=True)
class StowPeer:
    url: str  # the DICOMweb base URL; objects go to <url>/studies
    timeout: float
    auth: str = "none"  # none | basic | bearer
    username: str = ""
    secret: str = field(default="", repr=False)

    def __str__(self) -> str:
        return self.url

    @property
    def studies_url(self) -> str:
        return self.url.rstrip("/") + "/studies"

    def headers(self) -> dict[str, str]:
        if self.auth == "basic":
            pair = base64.b64encode(f"{self.username}:{self.secret}".encode()).decode()
            return {"Authorization": f"Basic {pair}"}
        if self.auth == "bearer":
            return {"Authorization": f"Bearer {self.secret}"}
        return {}


def encode_part10(outgoing: Outgoing) -> bytes:
    """The object as a Part 10 file, in memory (the re-identified bytes are never written anywhere)."""
    buffer = io.BytesIO()
    dcmwrite(buffer, outgoing.dataset, enforce_file_format=True)
    return buffer.getvalue()


def multipart_body(parts: Sequence[bytes]) -> tuple[bytes, str]:
    """The multipart/related body and its Content-Type."""
    boundary = f"oncoportal-{secrets.token_hex(16)}"
    chunks: list[bytes] = []
    for part in parts:
        chunks += [f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode(), part, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f'multipart/related; type="application/dicom"; boundary={boundary}'


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirected POST would lose its body; report the 3xx instead.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def send_stow(*, peer: StowPeer, objects: Sequence[Outgoing]) -> dict[int, ObjectResult]:
    """POST every object in one request; returns a result per ``key``. Never raises for the peer's doing."""
    if not objects:
        return {}
    body, content_type = multipart_body([encode_part10(item) for item in objects])
    headers = {
        "Content-Type": content_type,
        "Accept": "application/dicom+json",
        "User-Agent": USER_AGENT,
        **peer.headers(),
    }
    request = urllib.request.Request(peer.studies_url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=peer.timeout) as answer:
            return _results(answer.status, answer.read(), objects)
    except urllib.error.HTTPError as exc:
        return _results(exc.code, exc.read(), objects)
    except urllib.error.URLError as exc:
        reason = f"cannot connect: {exc.reason}"
    except TimeoutError:
        reason = f"no answer within {peer.timeout:g} s"
    except OSError as exc:
        reason = f"{type(exc).__name__}: {exc}"
    logger.info("results: STOW-RS to %s failed: %s", peer, reason)
    return {item.key: ObjectResult(Outcome.RETRY, "", reason) for item in objects}


def _results(status: int, raw: bytes, objects: Sequence[Outgoing]) -> dict[int, ObjectResult]:
    http = f"HTTP {status}"
    response = _dataset(raw)
    failed = _by_uid(response, FAILED_SOP_SEQUENCE, FAILURE_REASON)
    stored = _by_uid(response, REFERENCED_SOP_SEQUENCE, WARNING_REASON)
    if status in (200, 202, 409) and (failed or stored or status == 200):
        results: dict[int, ObjectResult] = {}
        for item in objects:
            uid = str(item.dataset.SOPInstanceUID)
            if uid in failed:
                code = failed[uid]
                result = (
                    dicom_status_result(code)
                    if code
                    else ObjectResult(Outcome.FAILED, "", "failed (no reason given)")
                )
                results[item.key] = ObjectResult(
                    result.outcome, f"{http} {result.status}".strip(), result.detail
                )
            elif uid in stored or status == 200:
                warning_code = stored.get(uid)
                if warning_code:
                    warning = dicom_status_result(warning_code)
                    results[item.key] = ObjectResult(
                        Outcome.WARNING, f"{http} {warning.status}", warning.detail
                    )
                else:
                    results[item.key] = ObjectResult(Outcome.SUCCESS, http, "stored")
            else:
                results[item.key] = ObjectResult(
                    Outcome.RETRY, http, "the response does not mention this object"
                )
        return results
    # No per-object answer: the whole request fared the same.
    snippet = " ".join(raw[:RESPONSE_SNIPPET].decode("utf-8", "replace").split())
    detail = f"{http}" + (f": {snippet}" if snippet else "")
    if 200 <= status < 300:
        outcome = Outcome.SUCCESS
    elif status >= 500 or status in TRANSIENT_4XX:
        outcome = Outcome.RETRY
    else:
        # 3xx (set the final URL), 400 (the request or an object is wrong), 401/403 (credentials),
        # 404 (no STOW-RS there), 409 without reasons, 413/415: sending the same again will not help.
        outcome = Outcome.FAILED
    return {item.key: ObjectResult(outcome, http, detail) for item in objects}


def _dataset(raw: bytes) -> dict[str, Any]:
    """The response's DICOM JSON dataset, or {} when there is none (XML, HTML, empty)."""
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    if isinstance(data, list):
        data = data[0] if data else {}
    return data if isinstance(data, dict) else {}


def _by_uid(response: dict[str, Any], sequence: str, reason_tag: str) -> dict[str, int]:
    """SOP Instance UID -> the item's reason code (0 when it has none) for one response sequence."""
    items = (response.get(sequence) or {}).get("Value") or []
    found: dict[str, int] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        uids = (item.get(REFERENCED_SOP_INSTANCE_UID) or {}).get("Value") or []
        codes = (item.get(reason_tag) or {}).get("Value") or []
        if uids:
            try:
                found[str(uids[0])] = int(codes[0]) if codes else 0
            except (TypeError, ValueError):
                found[str(uids[0])] = 0
    return found
